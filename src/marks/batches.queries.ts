import { and, asc, count, eq, gt, gte, inArray, isNull, lte, max, sql } from 'drizzle-orm';
import type { Queryable } from '../db/client';
import { rowsOf } from '../db/client';
import {
  markBatches,
  markBatchNumbersTaken,
  markSerialsUpgrade,
  type MarkBatchRow,
} from '../db/schema/mark-batches';
import { marks } from '../db/schema/marks';
import { serialText } from './mark.queries';

/** How many marks a certificate's batches hold in all (a failed batch's none). */
export async function marksIssuedFor(tx: Queryable, certificateId: string): Promise<number> {
  const [row] = await tx
    .select({ n: sql<string | number>`coalesce(sum(${markBatches.count}), 0)` })
    .from(markBatches)
    .where(
      and(eq(markBatches.certificateId, certificateId), sql`${markBatches.status} <> 'failed'`),
    );
  return Number(row?.n ?? 0);
}

/**
 * The queries of a mark batch: its row and number, the upgrade that keeps numbers clear of older
 * batches' serials, and the marks of an older batch in issuance order (exports and label sheets).
 */

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

/**
 * The next batch number: from the sequence, skipping the numbers an older batch's serial locates
 * into (`mark_batch_numbers_taken`). Undefined while older serials are still being read into that
 * table (see MarksService.upgradeSerials): no number is safe to give yet.
 */
export async function nextBatchNumber(tx: Queryable): Promise<number | undefined> {
  const [upgrade] = await tx.select({ done: markSerialsUpgrade.done }).from(markSerialsUpgrade);
  if (!upgrade?.done) return undefined;
  for (;;) {
    const [row] = rowsOf<{ number: string | number; taken: boolean }>(
      await tx.execute(sql`
        SELECT n.number, EXISTS (
          SELECT 1 FROM ${markBatchNumbersTaken} AS t WHERE t.number = n.number) AS taken
        FROM nextval('mark_batch_numbers') AS n(number)`),
    );
    if (!row!.taken) return Number(row!.number);
  }
}

// ---------------------------------------------------------------------------------------------
// Batches issued before positional serials (one row per mark, random serials)
// ---------------------------------------------------------------------------------------------

/** The upgrade's progress: the last older serial read, and whether all are. */
export async function lockSerialsUpgrade(
  tx: Queryable,
): Promise<{ through: bigint | null; done: boolean } | undefined> {
  const [row] = await tx
    .select({ through: markSerialsUpgrade.through, done: markSerialsUpgrade.done })
    .from(markSerialsUpgrade)
    .for('update');
  return row;
}

/** Serials of older (unnumbered) batches after `after`, in serial order. */
export async function olderSerialsAfter(
  tx: Queryable,
  params: { after: bigint | null; limit: number },
): Promise<bigint[]> {
  const rows = await tx
    .select({ serial: marks.serial })
    .from(marks)
    .innerJoin(markBatches, eq(markBatches.id, marks.batchId))
    .where(
      and(
        isNull(markBatches.number),
        params.after === null ? undefined : gt(marks.serial, params.after),
      ),
    )
    .orderBy(asc(marks.serial))
    .limit(params.limit);
  return rows.map((r) => r.serial);
}

/** Records batch numbers as never to be given, and how far the upgrade has read. */
export async function takeBatchNumbers(
  tx: Queryable,
  params: { numbers: readonly number[]; through: bigint | null; done: boolean },
): Promise<void> {
  if (params.numbers.length > 0) {
    await tx
      .insert(markBatchNumbersTaken)
      .values([...new Set(params.numbers)].map((number) => ({ number })))
      .onConflictDoNothing();
  }
  await tx.update(markSerialsUpgrade).set({ through: params.through, done: params.done });
}

/** Older batches whose background fill had not finished: they are numbered instead. */
export async function unfinishedOlderBatchIds(db: Queryable): Promise<string[]> {
  const rows = await db
    .select({ id: markBatches.id })
    .from(markBatches)
    .where(and(isNull(markBatches.number), inArray(markBatches.status, ['pending', 'running'])))
    .orderBy(asc(markBatches.createdAt));
  return rows.map((r) => r.id);
}

/**
 * An older batch still being filled becomes a numbered one: the rows its fill wrote go (no label
 * of an unfinished batch was ever exported or printed), and all its marks exist at once.
 */
export async function numberUnfinishedBatch(
  tx: Queryable,
  params: { id: string; number: number; at: Date },
): Promise<boolean> {
  const [batch] = await tx
    .select({ status: markBatches.status })
    .from(markBatches)
    .where(and(eq(markBatches.id, params.id), isNull(markBatches.number)))
    .for('update');
  if (!batch || (batch.status !== 'pending' && batch.status !== 'running')) return false;
  await tx.delete(marks).where(eq(marks.batchId, params.id));
  await tx
    .update(markBatches)
    .set({
      number: params.number,
      status: 'done',
      done: sql`${markBatches.count}`,
      finishedAt: params.at,
      error: null,
    })
    .where(eq(markBatches.id, params.id));
  return true;
}

/** One page of a batch's marks in issuance order (label sheets). */
export async function batchMarksPage(
  db: Queryable,
  params: { batchId: string; offset: number; limit: number },
): Promise<{ serial: string; status: 'active' | 'void' }[]> {
  const rows = await db
    .select({ serial: marks.serial, status: marks.status })
    .from(marks)
    .where(eq(marks.batchId, params.batchId))
    .orderBy(asc(marks.ordinal))
    .offset(params.offset)
    .limit(params.limit);
  return rows.map((r) => ({ serial: serialText(r.serial), status: r.status }));
}

/**
 * Marks of a batch in issuance order after `afterOrdinal` up to `toOrdinal` (keyset pagination),
 * with their status: the pages of a label PDF.
 */
export async function batchLabelsAfter(
  db: Queryable,
  params: { batchId: string; afterOrdinal: number; toOrdinal: number; limit: number },
): Promise<{ serial: string; ordinal: number; status: 'active' | 'void' }[]> {
  const rows = await db
    .select({ serial: marks.serial, ordinal: marks.ordinal, status: marks.status })
    .from(marks)
    .where(
      and(
        eq(marks.batchId, params.batchId),
        gt(marks.ordinal, params.afterOrdinal),
        lte(marks.ordinal, params.toOrdinal),
      ),
    )
    .orderBy(asc(marks.ordinal))
    .limit(params.limit);
  return rows.map((r) => ({ serial: serialText(r.serial), ordinal: r.ordinal, status: r.status }));
}

/** A batch's last position (its highest ordinal; 0 when it has no marks). */
export async function lastBatchPosition(db: Queryable, batchId: string): Promise<number> {
  const [row] = await db
    .select({ last: max(marks.ordinal) })
    .from(marks)
    .where(eq(marks.batchId, batchId));
  return row?.last ?? 0;
}

/** How many marks of a batch hold positions `from` to `to` (inclusive). */
export async function countBatchMarksBetween(
  db: Queryable,
  params: { batchId: string; from: number; to: number },
): Promise<number> {
  const [row] = await db
    .select({ marks: count() })
    .from(marks)
    .where(
      and(
        eq(marks.batchId, params.batchId),
        gte(marks.ordinal, params.from),
        lte(marks.ordinal, params.to),
      ),
    );
  return row?.marks ?? 0;
}

/** Positions (1-based) from `from` to `to` of a batch's marks that are void. */
export async function voidPositionsBetween(
  db: Queryable,
  params: { batchId: string; from: number; to: number },
): Promise<number[]> {
  const rows = await db
    .select({ ordinal: marks.ordinal })
    .from(marks)
    .where(
      and(
        eq(marks.batchId, params.batchId),
        eq(marks.status, 'void'),
        gte(marks.ordinal, params.from),
        lte(marks.ordinal, params.to),
      ),
    );
  return rows.map((r) => r.ordinal);
}
