import { createHash } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Queryable } from '../db/client';
import { rowsOf } from '../db/client';
import { auditLog } from '../db/schema/audit-log';
import type { Actor } from '../auth/principal';
import { canonicalJson } from '../crypto/canonical-json';
import { leafHash } from '../crypto/merkle';

/** Serialises appends so sequence numbers are dense and committed in order (Merkle leaves). */
const AUDIT_APPEND_LOCK = 0x61_75_64_74; // "audt"

export interface AuditEntryInput {
  actor: Actor;
  action: string;
  subjectType: string;
  subjectId: string;
  signatory?: unknown;
  change?: unknown;
}

/** The bytes a Merkle leaf commits to: every field of the entry, in canonical JSON. */
export function auditLeafData(entry: {
  seq: number;
  at: Date;
  actorKeyId: string | null;
  actorRole: string | null;
  signatory: unknown;
  action: string;
  subjectType: string;
  subjectId: string;
  changeDigest: string;
}): Uint8Array {
  return new TextEncoder().encode(
    canonicalJson({
      seq: entry.seq,
      at: entry.at.toISOString(),
      actorKeyId: entry.actorKeyId,
      actorRole: entry.actorRole,
      signatory: entry.signatory ?? null,
      action: entry.action,
      subjectType: entry.subjectType,
      subjectId: entry.subjectId,
      changeDigest: entry.changeDigest,
    }),
  );
}

/**
 * Appends one entry inside the caller's transaction, so the change and its record commit together
 * or not at all. Takes a transaction-scoped advisory lock: the next sequence number is only
 * assigned once the previous append committed, so the log never has gaps or reordering.
 */
export async function appendAuditEntry(
  tx: Queryable,
  at: Date,
  input: AuditEntryInput,
): Promise<number> {
  await tx.execute(sql`SELECT pg_advisory_xact_lock(${AUDIT_APPEND_LOCK})`);
  const [head] = rowsOf<{ next: string | number }>(
    await tx.execute(sql`SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM audit_log`),
  );
  const seq = Number(head?.next ?? 1);
  const change = input.change ?? null;
  const changeDigest = createHash('sha256').update(canonicalJson(change)).digest('hex');
  const entry = {
    seq,
    at,
    actorKeyId: input.actor.keyId,
    actorRole: input.actor.role,
    signatory: input.signatory ?? null,
    action: input.action,
    subjectType: input.subjectType,
    subjectId: input.subjectId,
    changeDigest,
  };
  await tx.insert(auditLog).values({ ...entry, change, leafHash: leafHash(auditLeafData(entry)) });
  return seq;
}
