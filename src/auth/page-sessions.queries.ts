import { and, eq, gt, isNull } from 'drizzle-orm';
import type { Queryable } from '../db/client';
import { apiKeys } from '../db/schema/api-keys';
import { pageSessions } from '../db/schema/page-sessions';
import type { Principal } from './principal';

export interface InsertPageSessionParams {
  id: string;
  keyId: string;
  createdAt: Date;
  expiresAt: Date;
}

export async function insertPageSession(db: Queryable, p: InsertPageSessionParams): Promise<void> {
  await db.insert(pageSessions).values(p);
}

/**
 * The principal of a session that is open at `now`: not signed out, not expired, and its API key
 * not revoked (revoking the key ends every session it opened).
 */
export async function findOpenSessionPrincipal(
  db: Queryable,
  p: { id: string; now: Date },
): Promise<Principal | null> {
  const [row] = await db
    .select({ keyId: apiKeys.id, role: apiKeys.role, issuerId: apiKeys.issuerId })
    .from(pageSessions)
    .innerJoin(apiKeys, eq(apiKeys.id, pageSessions.keyId))
    .where(
      and(
        eq(pageSessions.id, p.id),
        isNull(pageSessions.endedAt),
        gt(pageSessions.expiresAt, p.now),
        isNull(apiKeys.revokedAt),
      ),
    )
    .limit(1);
  return row ?? null;
}

/** Ends an open session; false when it was not open. */
export async function endPageSession(db: Queryable, p: { id: string; at: Date }): Promise<boolean> {
  const ended = await db
    .update(pageSessions)
    .set({ endedAt: p.at })
    .where(and(eq(pageSessions.id, p.id), isNull(pageSessions.endedAt)))
    .returning({ id: pageSessions.id });
  return ended.length > 0;
}
