import { and, asc, desc, eq, inArray, ne, sql } from 'drizzle-orm';
import { textArray, uuidArray } from '../db/arrays';
import type { Queryable } from '../db/client';
import { issuers, type IssuerRow } from '../db/schema/issuers';
import { issuerStatusEvents } from '../db/schema/issuer-status-events';
import { signingKeys, type SigningKeyRow } from '../db/schema/signing-keys';
import { takeTurn } from '../db/turns';

export interface InsertIssuerParams {
  name: string;
  kind: IssuerRow['kind'];
  schemes: string[];
  accreditationNo: string | null;
  country: string;
}

export async function insertIssuer(db: Queryable, params: InsertIssuerParams): Promise<IssuerRow> {
  const [row] = await db.insert(issuers).values(params).returning();
  return row!;
}

export async function findIssuer(db: Queryable, id: string): Promise<IssuerRow | undefined> {
  const [row] = await db.select().from(issuers).where(eq(issuers.id, id)).limit(1);
  return row;
}

/** The issuers among `ids` (in no particular order; an unknown id is simply not there). */
export async function findIssuers(db: Queryable, ids: readonly string[]): Promise<IssuerRow[]> {
  if (ids.length === 0) return [];
  return db
    .select()
    .from(issuers)
    .where(sql`${issuers.id} = ANY(${uuidArray(ids)})`);
}

/**
 * An issuer's row, locked. `change`: for a change of the issuer itself (its status, its keys), which
 * the changes of one issuer take in turn (FOR NO KEY UPDATE, which leaves alone the key-share locks
 * that inserting its certificates or keys takes). `read`: for work that must see its status as
 * committed and keep it so until done (a certificate's status change, a verification `at`): it
 * waits for a change in flight and holds the next one off (FOR SHARE). Either takes its turn first
 * (src/db/turns.ts): a change waits for the readers already inside, not for every reader to come.
 */
export async function lockIssuer(
  db: Queryable,
  id: string,
  purpose: 'change' | 'read',
): Promise<IssuerRow | undefined> {
  await takeTurn(db, 'issuer', id, purpose);
  const [row] = await db
    .select()
    .from(issuers)
    .where(eq(issuers.id, id))
    .for(purpose === 'change' ? 'no key update' : 'share')
    .limit(1);
  return row;
}

export async function listIssuers(db: Queryable): Promise<IssuerRow[]> {
  return db.select().from(issuers).orderBy(asc(issuers.createdAt));
}

export interface SetIssuerStatusParams {
  id: string;
  status: IssuerRow['status'];
  reason: string | null;
  at: Date;
  actorKeyId: string | null;
}

export async function setIssuerStatus(db: Queryable, p: SetIssuerStatusParams): Promise<IssuerRow> {
  const [row] = await db
    .update(issuers)
    .set({ status: p.status, statusReason: p.reason, statusChangedAt: p.at })
    .where(eq(issuers.id, p.id))
    .returning();
  await db.insert(issuerStatusEvents).values({
    issuerId: p.id,
    status: p.status,
    reason: p.reason,
    actorKeyId: p.actorKeyId,
    at: p.at,
  });
  return row!;
}

export async function insertSigningKey(
  db: Queryable,
  row: Omit<SigningKeyRow, 'createdAt' | 'retiredAt' | 'compromisedAt'> & { createdAt: Date },
): Promise<SigningKeyRow> {
  const [inserted] = await db.insert(signingKeys).values(row).returning();
  return inserted!;
}

export async function findSigningKey(
  db: Queryable,
  kid: string,
): Promise<SigningKeyRow | undefined> {
  const [row] = await db.select().from(signingKeys).where(eq(signingKeys.kid, kid)).limit(1);
  return row;
}

/** The signing keys among `kids` (in no particular order). */
export async function findSigningKeys(
  db: Queryable,
  kids: readonly string[],
): Promise<SigningKeyRow[]> {
  if (kids.length === 0) return [];
  return db
    .select()
    .from(signingKeys)
    .where(sql`${signingKeys.kid} = ANY(${textArray(kids)})`);
}

export async function findCurrentSigningKey(
  db: Queryable,
  issuerId: string,
): Promise<SigningKeyRow | undefined> {
  const [row] = await db
    .select()
    .from(signingKeys)
    .where(and(eq(signingKeys.issuerId, issuerId), eq(signingKeys.status, 'current')))
    .limit(1);
  return row;
}

/** The signing key made last, whatever its issuer or status (the KEK check at start). */
export async function findNewestSigningKey(db: Queryable): Promise<SigningKeyRow | undefined> {
  const [row] = await db.select().from(signingKeys).orderBy(desc(signingKeys.createdAt)).limit(1);
  return row;
}

export async function listIssuerKeys(
  db: Queryable,
  issuerIds: readonly string[],
): Promise<SigningKeyRow[]> {
  if (issuerIds.length === 0) return [];
  return db
    .select()
    .from(signingKeys)
    .where(inArray(signingKeys.issuerId, [...issuerIds]))
    .orderBy(asc(signingKeys.createdAt));
}

/** Every key the JWKS publishes: current and retired, never compromised. */
export async function listPublishedKeys(db: Queryable) {
  return db
    .select({
      kid: signingKeys.kid,
      issuerId: signingKeys.issuerId,
      publicKey: signingKeys.publicKey,
      status: signingKeys.status,
      issuerName: issuers.name,
    })
    .from(signingKeys)
    .innerJoin(issuers, eq(issuers.id, signingKeys.issuerId))
    .where(ne(signingKeys.status, 'compromised'))
    .orderBy(asc(signingKeys.createdAt));
}

export async function retireCurrentKeys(db: Queryable, issuerId: string, at: Date): Promise<void> {
  await db
    .update(signingKeys)
    .set({ status: 'retired', retiredAt: at })
    .where(and(eq(signingKeys.issuerId, issuerId), eq(signingKeys.status, 'current')));
}

export async function markKeyCompromised(
  db: Queryable,
  kid: string,
  at: Date,
): Promise<SigningKeyRow> {
  const [row] = await db
    .update(signingKeys)
    .set({ status: 'compromised', compromisedAt: at })
    .where(eq(signingKeys.kid, kid))
    .returning();
  return row!;
}
