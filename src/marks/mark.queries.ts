import { and, eq, sql } from 'drizzle-orm';
import type { Queryable } from '../db/client';
import { certificates } from '../db/schema/certificates';
import { markBatches } from '../db/schema/mark-batches';
import { marks } from '../db/schema/marks';
import { clearedCloneWindow } from '../verification/clone-detection';

/** The queries of one mark on its issuer's side: find it, lock it, void it, clear its clone flag. */

/** Serials travel as 16-digit strings (leading zeros kept) and are stored as bigint. */
export const serialText = (value: bigint | string | number): string =>
  String(value).padStart(16, '0');

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
