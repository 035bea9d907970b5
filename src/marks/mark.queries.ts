import { and, eq, sql } from 'drizzle-orm';
import type { Database, Queryable } from '../db/client';
import { clientQuery } from '../db/client';
import { markBatches, type MarkBatchStatus } from '../db/schema/mark-batches';
import { marks } from '../db/schema/marks';
import { clearedCloneWindow } from '../verification/clone-detection';

/** The queries of one mark on its issuer's side: find it, lock it, void it, clear its clone flag. */

/** Serials travel as 16-digit strings (leading zeros kept) and are stored as bigint. */
export const serialText = (value: bigint | string | number): string =>
  String(value).padStart(16, '0');

/** A serial with where it points (crypto/mark-serial-cipher's `locate`): its batch number and position. */
export interface LocatedSerial {
  serial: string;
  batchNumber: number;
  position: number;
}

/**
 * The mark a serial names as one row of `marks`' columns, whether or not it has a row: its row when
 * it was scanned or voided (or belongs to a batch issued before positional serials), else a mark
 * never scanned of the numbered batch the serial locates, provided the position lies within the
 * batch. No row: no such mark. (Batch status and keys are the caller's to judge.) The arguments
 * are the statement's placeholders for the serial (bigint), batch number and position.
 */
export function locatedMarkSql(p: {
  serial: string;
  batchNumber: string;
  position: string;
}): string {
  return `(
    SELECT m.serial, m.batch_id, m.ordinal, m.certificate_id, m.status, m.scan_count,
      m.first_scan_at, m.first_scan_region, m.clone_flagged_at
    FROM marks AS m WHERE m.serial = ${p.serial}::bigint
    UNION ALL
    SELECT ${p.serial}::bigint, b.id, ${p.position}::int + 1, b.certificate_id, 'active', 0,
      NULL::timestamptz, NULL::text, NULL::timestamptz
    FROM mark_batches AS b
    WHERE b.number = ${p.batchNumber}::bigint AND ${p.position}::int < b.count
      AND NOT EXISTS (SELECT 1 FROM marks AS x WHERE x.serial = ${p.serial}::bigint))`;
}

/** The placeholders $1 … $3 of `locatedMarkSql`, and their values. */
export const LOCATED_AT_1_2_3 = { serial: '$1', batchNumber: '$2', position: '$3' };
export const locatedValues = (at: LocatedSerial) => [at.serial, at.batchNumber, at.position];

/**
 * Gives marks of numbered batches that have no row yet (never scanned nor voided) their row, so a
 * count, a void or a lock has a row to work on. A serial that locates no mark, or has a row, is
 * left alone. Rows are written in serial order, the order every statement locks marks in.
 */
export async function ensureMarkRows(
  db: Database,
  located: readonly LocatedSerial[],
): Promise<void> {
  if (located.length === 0) return;
  const rows = JSON.stringify(
    located.map((l) => ({ serial: l.serial, batch_number: l.batchNumber, position: l.position })),
  );
  await clientQuery(
    db,
    'marks_ensure_rows',
    `INSERT INTO marks (serial, batch_id, ordinal, certificate_id)
     SELECT s.serial, b.id, s.position + 1, b.certificate_id
     FROM jsonb_to_recordset($1::jsonb) AS s(serial bigint, batch_number bigint, position int)
       JOIN mark_batches AS b ON b.number = s.batch_number AND s.position < b.count
     ORDER BY s.serial
     ON CONFLICT DO NOTHING`,
    [rows],
  );
}

/** A mark with what its owner needs: the batch (key, issuer) and the certificate number. */
export async function findMarkWithBatch(db: Queryable, at: LocatedSerial) {
  const [row] = await clientQuery<{
    serial: string;
    status: 'active' | 'void';
    batchId: string;
    certificateId: string;
    kid: string;
    issuerId: string;
    batchStatus: MarkBatchStatus;
    certificateNumber: string;
    scanCount: number;
    cloneFlaggedAt: Date | null;
  }>(
    db,
    // Planned at each call: it reads marks by serial (see clientQuery).
    undefined,
    `SELECT lpad(m.serial::text, 16, '0') AS "serial", m.status AS "status", m.batch_id AS "batchId",
       m.certificate_id AS "certificateId", b.kid AS "kid", b.issuer_id AS "issuerId",
       b.status AS "batchStatus", c.number AS "certificateNumber", m.scan_count AS "scanCount",
       m.clone_flagged_at AS "cloneFlaggedAt"
     FROM ${locatedMarkSql(LOCATED_AT_1_2_3)} AS m
       JOIN mark_batches AS b ON b.id = m.batch_id
       JOIN certificates AS c ON c.id = m.certificate_id
     LIMIT 1`,
    locatedValues(at),
  );
  return row;
}

/** The mark's row locked for a change (ensureMarkRows first for a mark never scanned). */
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

/** A mark's clone flag, its row locked for clearing it. */
export async function lockMarkFlag(tx: Queryable, serial: string) {
  const [row] = await tx
    .select({ cloneFlaggedAt: marks.cloneFlaggedAt })
    .from(marks)
    .where(eq(marks.serial, BigInt(serial)))
    .for('update')
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
    .set({ ...clearedCloneWindow(), cloneFlaggedAt: null, cloneClearedAt: params.at })
    .where(eq(marks.serial, BigInt(params.serial)))
    .returning({ serial: marks.serial });
  return result.length > 0;
}
