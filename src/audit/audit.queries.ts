import { createHash } from 'node:crypto';
import { isNull, sql } from 'drizzle-orm';
import type { Queryable } from '../db/client';
import { clientQuery, rowsOf } from '../db/client';
import { auditLog } from '../db/schema/audit-log';
import type { Actor } from '../auth/principal';
import { canonicalJson } from '../crypto/canonical-json';

export interface AuditEntryInput {
  actor: Actor;
  action: string;
  subjectType: string;
  subjectId: string;
  signatory?: unknown;
  change?: unknown;
}

/** The bytes a Merkle leaf commits to: every field of the entry, in canonical JSON. */
export function auditLeafData(entry: AuditLeafFields & { seq: number }): Uint8Array {
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

/** The columns an entry is written with, in the order both appends bind them. */
function entryRecord(at: Date, input: AuditEntryInput) {
  const change = input.change ?? null;
  return {
    at: at.toISOString(),
    actor_key_id: input.actor.keyId,
    actor_role: input.actor.role,
    signatory: input.signatory ?? null,
    action: input.action,
    subject_type: input.subjectType,
    subject_id: input.subjectId,
    change_digest: createHash('sha256').update(canonicalJson(change)).digest('hex'),
    change,
  };
}

/**
 * Records one entry inside the caller's transaction, so the change and its record commit together
 * or not at all, exactly once. Takes no lock: writers never wait for each other. The entry has no
 * position yet; the sequencer (src/audit/sequencer.ts) integrates it into the tree after it commits.
 * Returns the entry's id.
 *
 * Every audited write runs this, so it is one prepared statement on the transaction's own
 * connection: parsed and planned once per connection, no query builder's work per value (the query
 * builder and a parse per call cost an audited write more than its row does; bench/audit-append.ts).
 */
export async function appendAuditEntry(
  tx: Queryable,
  at: Date,
  input: AuditEntryInput,
): Promise<number> {
  const e = entryRecord(at, input);
  const [row] = await clientQuery<{ id: string | number }>(
    tx,
    'audit_append_entry',
    `INSERT INTO audit_log
       (at, actor_key_id, actor_role, signatory, action, subject_type, subject_id, change_digest, change)
     VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9::jsonb)
     RETURNING id`,
    [
      e.at,
      e.actor_key_id,
      e.actor_role,
      jsonParameter(e.signatory),
      e.action,
      e.subject_type,
      e.subject_id,
      e.change_digest,
      jsonParameter(e.change),
    ],
  );
  return Number(row!.id);
}

/** A jsonb parameter: SQL NULL for null (as the column had it before), else the value's JSON. */
function jsonParameter(value: unknown): string | null {
  return value === null ? null : JSON.stringify(value);
}

/**
 * Records many entries at one time inside the caller's transaction (one multi-row insert): the
 * same entries, each as {@link appendAuditEntry} writes it, for a change made many times at once
 * (an import's chunk of certificates). Returns their ids, in order.
 */
export async function appendAuditEntries(
  tx: Queryable,
  at: Date,
  inputs: readonly AuditEntryInput[],
): Promise<number[]> {
  if (inputs.length === 0) return [];
  // One JSON parameter turned into records by PostgreSQL, as for the certificates themselves.
  const records = inputs.map((input) => entryRecord(at, input));
  const rows = await clientQuery<{ id: string | number }>(
    tx,
    'audit_append_entries',
    `INSERT INTO audit_log
       (at, actor_key_id, actor_role, signatory, action, subject_type, subject_id, change_digest, change)
     SELECT at, actor_key_id, actor_role, signatory, action, subject_type, subject_id,
       change_digest, change
     FROM jsonb_populate_recordset(NULL::audit_log, $1::jsonb)
     RETURNING id`,
    [JSON.stringify(records)],
  );
  return rows.map((r) => Number(r.id));
}

/** Serialises sequencers across instances: one integrates at a time (transaction-scoped). */
const AUDIT_SEQUENCER_LOCK = 0x61_75_64_74; // "audt"

/** What an entry's leaf commits to, besides its position. */
export interface AuditLeafFields {
  at: Date;
  actorKeyId: string | null;
  actorRole: string | null;
  signatory: unknown;
  action: string;
  subjectType: string;
  subjectId: string;
  changeDigest: string;
}

/** An entry committed but not yet integrated. */
export interface PendingAuditEntry extends AuditLeafFields {
  id: number;
}

/**
 * Takes the sequencer lock for the rest of `tx`: waits for it when `wait`, else answers false at
 * once when another sequencer holds it.
 */
export async function takeSequencerLock(tx: Queryable, wait: boolean): Promise<boolean> {
  if (wait) {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(${AUDIT_SEQUENCER_LOCK})`);
    return true;
  }
  const [row] = rowsOf<{ locked: boolean }>(
    await tx.execute(sql`SELECT pg_try_advisory_xact_lock(${AUDIT_SEQUENCER_LOCK}) AS locked`),
  );
  return row?.locked === true;
}

/**
 * What the sequencer has to do, in one round trip of two index-only looks: whether a committed entry
 * awaits integration (the pending index), and whether the tree is larger than its latest stored
 * checkpoint (a sequencer died between integrating and signing).
 */
export async function sequencingWork(
  db: Queryable,
): Promise<{ pending: boolean; unpublished: boolean }> {
  const [row] = rowsOf<{ pending: boolean; unpublished: boolean }>(
    await db.execute(sql`
      SELECT EXISTS (SELECT 1 FROM audit_log WHERE seq IS NULL) AS pending,
        COALESCE((SELECT MAX(seq) FROM audit_log), 0)
          > COALESCE((SELECT MAX(tree_size) FROM audit_checkpoints), 0) AS unpublished`),
  );
  return { pending: row?.pending === true, unpublished: row?.unpublished === true };
}

/** The number of integrated entries: seqs are dense from 1, so MAX(seq) (the unique index's end). */
export async function integratedSize(tx: Queryable): Promise<number> {
  const [row] = rowsOf<{ size: string | number | null }>(
    await tx.execute(sql`SELECT COALESCE(MAX(seq), 0) AS size FROM audit_log`),
  );
  return Number(row?.size ?? 0);
}

/** Up to `limit` committed, unintegrated entries, in id order. */
export async function pendingEntries(tx: Queryable, limit: number): Promise<PendingAuditEntry[]> {
  return tx
    .select({
      id: auditLog.id,
      at: auditLog.at,
      actorKeyId: auditLog.actorKeyId,
      actorRole: auditLog.actorRole,
      signatory: auditLog.signatory,
      action: auditLog.action,
      subjectType: auditLog.subjectType,
      subjectId: auditLog.subjectId,
      changeDigest: auditLog.changeDigest,
    })
    .from(auditLog)
    .where(isNull(auditLog.seq))
    .orderBy(auditLog.id)
    .limit(limit);
}

/**
 * Gives entries `ids[i]` seq `firstSeq + i` and leaf hash `leaves[i*32 .. i*32+32)`, in one
 * statement (the append-only trigger allows exactly this update, once per entry).
 */
export async function integrateEntries(
  tx: Queryable,
  firstSeq: number,
  ids: readonly number[],
  leaves: Uint8Array,
): Promise<void> {
  if (ids.length === 0) return;
  await tx.execute(sql`
    UPDATE audit_log AS a
    SET seq = ${firstSeq - 1} + v.ord,
        leaf_hash = substring(${leaves}::bytea from ((v.ord - 1) * 32 + 1)::int for 32)
    FROM unnest(string_to_array(${ids.join(',')}, ',')::bigint[]) WITH ORDINALITY AS v(id, ord)
    WHERE a.id = v.id`);
}

/**
 * How far sequencing is behind: entries committed but not yet in the tree, and the age in seconds
 * of the oldest of them (by the database's clock against the entry's time), 0 when none.
 */
export async function sequencingLag(
  db: Queryable,
): Promise<{ pendingEntries: number; oldestPendingSeconds: number }> {
  const [row] = rowsOf<{ n: string | number; age: string | number | null }>(
    await db.execute(sql`
      SELECT count(*) AS n, EXTRACT(EPOCH FROM (now() - min(at))) AS age
      FROM audit_log WHERE seq IS NULL`),
  );
  return {
    pendingEntries: Number(row?.n ?? 0),
    oldestPendingSeconds: Math.max(0, Number(row?.age ?? 0)),
  };
}
