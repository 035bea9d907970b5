import { and, asc, count, desc, eq, gt, inArray, sql } from 'drizzle-orm';
import type { Queryable } from '../db/client';
import { rowsOf } from '../db/client';
import { certificates } from '../db/schema/certificates';
import { markBatches, type MarkBatchRow, type MarkBatchStatus } from '../db/schema/mark-batches';
import { markScans } from '../db/schema/mark-scans';
import { marks } from '../db/schema/marks';

/** Serials travel as 16-digit strings (leading zeros kept) and are stored as bigint. */
export const serialText = (value: bigint | string | number): string =>
  String(value).padStart(16, '0');

/** Rows an INSERT/UPDATE touched, whichever driver ran it (pg: rowCount, PGlite: affectedRows). */
function affectedRows(result: unknown): number {
  const r = result as { rowCount?: number | null; affectedRows?: number };
  return Number(r.rowCount ?? r.affectedRows ?? 0);
}

// ---------------------------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------------------------

export async function insertBatch(
  db: Queryable,
  row: typeof markBatches.$inferInsert,
): Promise<MarkBatchRow> {
  const [inserted] = await db.insert(markBatches).values(row).returning();
  return inserted!;
}

export async function findBatch(db: Queryable, id: string): Promise<MarkBatchRow | undefined> {
  const [row] = await db.select().from(markBatches).where(eq(markBatches.id, id)).limit(1);
  return row;
}

/** Batches a job should be filling: pending or running (their runner may have died). */
export async function unfinishedBatchIds(db: Queryable): Promise<string[]> {
  const rows = await db
    .select({ id: markBatches.id })
    .from(markBatches)
    .where(inArray(markBatches.status, ['pending', 'running']))
    .orderBy(asc(markBatches.createdAt));
  return rows.map((r) => r.id);
}

/** A runner started filling the batch. */
export async function startBatch(db: Queryable, id: string): Promise<void> {
  await db
    .update(markBatches)
    .set({ status: 'running' })
    .where(and(eq(markBatches.id, id), eq(markBatches.status, 'pending')));
}

/**
 * Ends a running batch: `done` only when every mark is written, `failed` at any time. A batch that
 * already ended stays as it is (undefined is returned), so two runners cannot both end it.
 */
export async function endBatch(
  tx: Queryable,
  params: { id: string; status: 'done' | 'failed'; at: Date; error: string | null },
): Promise<{ done: number } | undefined> {
  const [ended] = await tx
    .update(markBatches)
    .set({ status: params.status, finishedAt: params.at, error: params.error })
    .where(
      and(
        eq(markBatches.id, params.id),
        inArray(markBatches.status, ['pending', 'running']),
        params.status === 'done' ? eq(markBatches.done, markBatches.count) : undefined,
      ),
    )
    .returning({ done: markBatches.done });
  return ended;
}

export interface BatchFillState {
  count: number;
  done: number;
  status: MarkBatchStatus;
  certificateId: string;
  /** The highest ordinal written so far (0 when none). */
  lastOrdinal: number;
}

/**
 * Locks the batch row for one chunk of writes. Every chunk takes this lock before inserting, so
 * two runners of one batch (a resumed job while the old one still lives) can never write more
 * than `count` marks between them.
 */
export async function lockBatchForFill(
  tx: Queryable,
  batchId: string,
): Promise<BatchFillState | undefined> {
  const [batch] = await tx
    .select({
      count: markBatches.count,
      done: markBatches.done,
      status: markBatches.status,
      certificateId: markBatches.certificateId,
    })
    .from(markBatches)
    .where(eq(markBatches.id, batchId))
    .for('update')
    .limit(1);
  if (!batch) return undefined;
  const [last] = rowsOf<{ ordinal: number | string | null }>(
    await tx.execute(
      sql`SELECT max(${marks.ordinal}) AS ordinal FROM ${marks} WHERE ${marks.batchId} = ${batchId}`,
    ),
  );
  return { ...batch, lastOrdinal: Number(last?.ordinal ?? 0) };
}

/**
 * Writes one chunk of marks in a single statement (the serials travel as one array parameter, so
 * the statement is the same for 10 or 10,000 rows) and advances the batch's `done` by what was
 * really written. A serial that already exists is skipped (ON CONFLICT DO NOTHING): the caller
 * tops the shortfall up with fresh serials. Returns the number written.
 */
export async function insertMarkChunk(
  tx: Queryable,
  params: {
    batchId: string;
    certificateId: string;
    serials: readonly string[];
    firstOrdinal: number;
  },
): Promise<number> {
  if (params.serials.length === 0) return 0;
  const serialArray = `{${params.serials.join(',')}}`;
  const result = await tx.execute(sql`
    INSERT INTO ${marks} (serial, batch_id, certificate_id, ordinal)
    SELECT s.serial, ${params.batchId}::uuid, ${params.certificateId}::uuid, ${params.firstOrdinal}::int + s.n::int - 1
    FROM unnest(${serialArray}::bigint[]) WITH ORDINALITY AS s(serial, n)
    ON CONFLICT (serial) DO NOTHING`);
  const written = affectedRows(result);
  if (written > 0) {
    await tx
      .update(markBatches)
      .set({ done: sql`${markBatches.done} + ${written}` })
      .where(eq(markBatches.id, params.batchId));
  }
  return written;
}

/** Marks of a batch in issuance order, after `afterOrdinal` (keyset pagination). */
export async function batchMarksAfter(
  db: Queryable,
  params: { batchId: string; afterOrdinal: number; limit: number },
): Promise<{ serial: string; ordinal: number }[]> {
  const rows = await db
    .select({ serial: marks.serial, ordinal: marks.ordinal })
    .from(marks)
    .where(and(eq(marks.batchId, params.batchId), gt(marks.ordinal, params.afterOrdinal)))
    .orderBy(asc(marks.ordinal))
    .limit(params.limit);
  return rows.map((r) => ({ serial: serialText(r.serial), ordinal: r.ordinal }));
}

/** One page of a batch's marks in issuance order (label sheets). */
export async function batchMarksPage(
  db: Queryable,
  params: { batchId: string; offset: number; limit: number },
): Promise<string[]> {
  const rows = await db
    .select({ serial: marks.serial })
    .from(marks)
    .where(eq(marks.batchId, params.batchId))
    .orderBy(asc(marks.ordinal))
    .offset(params.offset)
    .limit(params.limit);
  return rows.map((r) => serialText(r.serial));
}

// ---------------------------------------------------------------------------------------------
// One mark (issuer side)
// ---------------------------------------------------------------------------------------------

/** A mark with what its owner needs: the batch (key, issuer) and the certificate number. */
export async function findMarkWithBatch(db: Queryable, serial: string) {
  const [row] = await db
    .select({
      serial: marks.serial,
      status: marks.status,
      batchId: marks.batchId,
      certificateId: marks.certificateId,
      kid: markBatches.kid,
      issuerId: markBatches.issuerId,
      batchStatus: markBatches.status,
      certificateNumber: certificates.number,
      scanCount: marks.scanCount,
      cloneFlaggedAt: marks.cloneFlaggedAt,
    })
    .from(marks)
    .innerJoin(markBatches, eq(markBatches.id, marks.batchId))
    .innerJoin(certificates, eq(certificates.id, marks.certificateId))
    .where(eq(marks.serial, BigInt(serial)))
    .limit(1);
  return row ? { ...row, serial: serialText(row.serial) } : undefined;
}

export async function lockMark(tx: Queryable, serial: string) {
  const [row] = await tx
    .select({
      status: marks.status,
      batchId: marks.batchId,
      issuerId: markBatches.issuerId,
      /** 0-based: the mark's bit in its batch's status list. */
      position: sql<number>`${marks.ordinal} - 1`,
    })
    .from(marks)
    .innerJoin(markBatches, eq(markBatches.id, marks.batchId))
    .where(eq(marks.serial, BigInt(serial)))
    .for('update', { of: marks })
    .limit(1);
  return row;
}

export async function voidMark(
  tx: Queryable,
  params: { serial: string; reason: string; at: Date },
): Promise<void> {
  await tx
    .update(marks)
    .set({ status: 'void', voidReason: params.reason, voidedAt: params.at })
    .where(eq(marks.serial, BigInt(params.serial)));
}

/** Positions (0-based, in issuance order) of a batch's voided marks: its status list's set bits. */
export async function voidedPositions(db: Queryable, batchId: string): Promise<number[]> {
  const rows = await db
    .select({ position: sql<number>`${marks.ordinal} - 1` })
    .from(marks)
    .where(and(eq(marks.batchId, batchId), eq(marks.status, 'void')));
  return rows.map((r) => Number(r.position));
}

/**
 * A supervisor cleared a suspected clone: the flag goes, and so does the counting window, so the
 * mark is judged afresh from here (its total scan count and first scan stay).
 */
export async function clearCloneFlag(
  tx: Queryable,
  params: { serial: string; at: Date },
): Promise<boolean> {
  const result = await tx
    .update(marks)
    .set({
      cloneFlaggedAt: null,
      cloneClearedAt: params.at,
      windowScanCount: 0,
      recentProvinces: sql`'{}'::jsonb`,
      recentPoints: sql`'[]'::jsonb`,
    })
    .where(eq(marks.serial, BigInt(params.serial)))
    .returning({ serial: marks.serial });
  return result.length > 0;
}

// ---------------------------------------------------------------------------------------------
// Scan log
// ---------------------------------------------------------------------------------------------

/** A page of a mark's scan log, newest first, and how many entries it has in all. */
export async function scanLogPage(
  db: Queryable,
  params: { serial: string; limit: number; offset: number },
) {
  const bySerial = eq(markScans.serial, BigInt(params.serial));
  const [rows, [total]] = await Promise.all([
    db
      .select()
      .from(markScans)
      .where(bySerial)
      .orderBy(desc(markScans.at), desc(markScans.id))
      .limit(params.limit)
      .offset(params.offset),
    db.select({ n: count() }).from(markScans).where(bySerial),
  ]);
  return { rows, total: total?.n ?? 0 };
}

export interface RecentScan {
  serial: string;
  at: Date;
  region: string | null;
  lat: number | null;
  lon: number | null;
  channel: string;
  verdict: string;
}

/** The latest `perMark` scans of each of `serials`, newest first (the supervisor's page). */
export async function recentScansOf(
  db: Queryable,
  params: { serials: readonly string[]; perMark: number },
): Promise<RecentScan[]> {
  if (params.serials.length === 0) return [];
  const serialArray = `{${params.serials.join(',')}}`;
  const rows = rowsOf<RecentScan & { at: Date | string }>(
    await db.execute(sql`
      SELECT lpad(s.serial::text, 16, '0') AS serial, r.at, r.region, r.lat, r.lon, r.channel, r.verdict
      FROM unnest(${serialArray}::bigint[]) AS s(serial)
      CROSS JOIN LATERAL (
        SELECT at, region, lat, lon, channel, verdict FROM ${markScans}
        WHERE ${markScans.serial} = s.serial
        ORDER BY at DESC, id DESC LIMIT ${params.perMark}
      ) AS r
      ORDER BY s.serial, r.at DESC`),
  );
  return rows.map((r) => ({ ...r, at: new Date(r.at) }));
}
