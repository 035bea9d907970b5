import {
  and,
  asc,
  count,
  desc,
  eq,
  getTableColumns,
  gte,
  inArray,
  sql,
  type SQL,
} from 'drizzle-orm';
import type { Queryable } from '../db/client';
import { rowsOf } from '../db/client';
import { auditLog, type AuditLogRow } from '../db/schema/audit-log';
import { auditPositions } from '../db/schema/audit-positions';
import { HASH_LENGTH } from '../crypto/merkle';

/**
 * Reading the audit log (appending is audit.queries.ts): an entry with its place in the tree,
 * from audit_positions (null seq and leaf hash until the sequencer integrates it). Leaf index =
 * seq - 1.
 */
export type AuditEntryRow = AuditLogRow & { seq: number | null; leafHash: Uint8Array | null };

const entryColumns = {
  ...getTableColumns(auditLog),
  seq: auditPositions.seq,
  leafHash: auditPositions.leafHash,
};

export interface AuditSearchParams {
  subject?: string | undefined;
  subjectType?: string | undefined;
  action?: string | undefined;
  since?: Date | undefined;
  limit: number;
  offset: number;
}

export async function searchAuditLog(
  db: Queryable,
  p: AuditSearchParams,
): Promise<{ rows: AuditEntryRow[]; total: number }> {
  const conditions: SQL[] = [];
  if (p.subject) conditions.push(eq(auditLog.subjectId, p.subject));
  if (p.subjectType) conditions.push(eq(auditLog.subjectType, p.subjectType));
  if (p.action) conditions.push(eq(auditLog.action, p.action));
  if (p.since) conditions.push(gte(auditLog.at, p.since));
  const where = conditions.length ? and(...conditions) : undefined;
  const rows = await db
    .select(entryColumns)
    .from(auditLog)
    .leftJoin(auditPositions, eq(auditPositions.entryId, auditLog.id))
    .where(where)
    .orderBy(desc(auditLog.id))
    .limit(p.limit)
    .offset(p.offset);
  const [total] = await db.select({ n: count() }).from(auditLog).where(where);
  return { rows, total: Number(total?.n ?? 0) };
}

/** The entries about any of `subjectIds` of one subject type, oldest first (a subject's history). */
export async function auditEntriesForSubjects(
  db: Queryable,
  subjectType: string,
  subjectIds: readonly string[],
): Promise<AuditEntryRow[]> {
  if (subjectIds.length === 0) return [];
  return db
    .select(entryColumns)
    .from(auditLog)
    .leftJoin(auditPositions, eq(auditPositions.entryId, auditLog.id))
    .where(and(eq(auditLog.subjectType, subjectType), inArray(auditLog.subjectId, [...subjectIds])))
    .orderBy(asc(auditLog.id));
}

/** The number of integrated entries: the sequencer makes seqs dense from 1, so MAX(seq). */
export async function auditLogSize(db: Queryable): Promise<number> {
  const [row] = rowsOf<{ size: string | number | null }>(
    await db.execute(sql`SELECT COALESCE(MAX(seq), 0) AS size FROM audit_positions`),
  );
  return Number(row?.size ?? 0);
}

/** Entries with leaf index in [start, end), in order. */
export async function auditEntriesByIndex(
  db: Queryable,
  start: number,
  end: number,
): Promise<(AuditLogRow & { seq: number; leafHash: Uint8Array })[]> {
  return db
    .select({
      ...getTableColumns(auditLog),
      seq: auditPositions.seq,
      leafHash: auditPositions.leafHash,
    })
    .from(auditPositions)
    .innerJoin(auditLog, eq(auditLog.id, auditPositions.entryId))
    .where(and(gte(auditPositions.seq, start + 1), sql`${auditPositions.seq} <= ${end}`))
    .orderBy(auditPositions.seq);
}

/**
 * The leaf hashes of leaves [from, to), in order, fetched as one concatenated bytea so a million
 * leaves cost a few dozen round trips and no per-row objects. Stops early (returns fewer) at a gap.
 */
export async function leafHashesByIndex(
  db: Queryable,
  from: number,
  to: number,
): Promise<Uint8Array[]> {
  if (to <= from) return [];
  const [row] = rowsOf<{
    n: number;
    first: string | number | null;
    last: string | number | null;
    hashes: Uint8Array | null;
  }>(
    await db.execute(sql`
      SELECT count(*)::int AS n, min(seq) AS first, max(seq) AS last, string_agg(leaf_hash, ''::bytea ORDER BY seq) AS hashes
      FROM (SELECT seq, leaf_hash FROM audit_positions WHERE seq > ${from} AND seq <= ${to} ORDER BY seq) AS page`),
  );
  if (!row || row.n === 0 || row.hashes === null) return [];
  const bytes = new Uint8Array(row.hashes);
  const hashes: Uint8Array[] = [];
  // Dense seqs make the byte offset the index; a gap (impossible unless rows were deleted) ends the run.
  if (
    Number(row.first) !== from + 1 ||
    Number(row.last) !== from + row.n ||
    bytes.length !== row.n * HASH_LENGTH
  ) {
    return hashes;
  }
  for (let i = 0; i < row.n; i++)
    hashes.push(bytes.subarray(i * HASH_LENGTH, (i + 1) * HASH_LENGTH));
  return hashes;
}
