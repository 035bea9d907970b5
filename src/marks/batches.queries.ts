import { and, asc, count, eq, gt, gte, inArray, lt, lte, max, sql } from 'drizzle-orm';
import type { Queryable } from '../db/client';
import { affectedRows, rowsOf } from '../db/client';
import { markBatches, type MarkBatchRow, type MarkBatchStatus } from '../db/schema/mark-batches';
import { marks } from '../db/schema/marks';
import { serialText } from './mark.queries';

/**
 * The queries of a mark batch: its row and life (pending → running → done or failed), the chunked
 * writes that fill it, and its marks in issuance order (exports and label sheets).
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
 * Batches a job should be filling: pending or running (their runner may have died), optionally only
 * those recorded before `createdBefore` (a younger one is still being filled by its request).
 */
export async function unfinishedBatchIds(
  db: Queryable,
  params: { createdBefore?: Date } = {},
): Promise<string[]> {
  const unfinished = inArray(markBatches.status, ['pending', 'running']);
  const rows = await db
    .select({ id: markBatches.id })
    .from(markBatches)
    .where(
      params.createdBefore
        ? and(unfinished, lt(markBatches.createdAt, params.createdBefore))
        : unfinished,
    )
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
