import type { Queryable } from '../db/client';
import type { MarkBatchRow } from '../db/schema/mark-batches';
import type { MarkSerialCipher } from '../crypto/mark-serial-cipher';
import * as batches from './batches.queries';

/** A mark of a batch: its serial, its position (1-based, issuance order) and whether it is void. */
export interface BatchMark {
  serial: string;
  position: number;
  status: 'active' | 'void';
}

/**
 * A batch's marks in issuance order, for exports and label sheets. A numbered batch's serials are
 * computed from its number (crypto/mark-serial-cipher), with only its void marks read; an older
 * batch's are read from their rows, which may leave a gap where a random serial collided.
 */
export class BatchMarks {
  constructor(
    private readonly db: Queryable,
    private readonly serials: MarkSerialCipher,
  ) {}

  /** The batch's last position (0 when it has no marks). */
  async lastPosition(batch: MarkBatchRow): Promise<number> {
    return batch.number === null ? batches.lastBatchPosition(this.db, batch.id) : batch.count;
  }

  /** How many marks hold positions `from` to `to` (inclusive). */
  async countBetween(batch: MarkBatchRow, from: number, to: number): Promise<number> {
    if (batch.number !== null)
      return Math.max(0, Math.min(to, batch.count) - Math.max(from, 1) + 1);
    return batches.countBatchMarksBetween(this.db, { batchId: batch.id, from, to });
  }

  /** Up to `limit` marks after position `after`, up to position `to` (inclusive). */
  async after(batch: MarkBatchRow, after: number, to: number, limit: number): Promise<BatchMark[]> {
    if (batch.number === null) {
      const rows = await batches.batchLabelsAfter(this.db, {
        batchId: batch.id,
        afterOrdinal: after,
        toOrdinal: to,
        limit,
      });
      return rows.map((r) => ({ serial: r.serial, position: r.ordinal, status: r.status }));
    }
    const first = after + 1;
    const last = Math.min(to, batch.count, after + limit);
    if (last < first) return [];
    const voided = new Set(
      await batches.voidPositionsBetween(this.db, { batchId: batch.id, from: first, to: last }),
    );
    const serials = this.serials.serialsAt(batch.number, first - 1, last - first + 1);
    return serials.map((serial, k) => ({
      serial,
      position: first + k,
      status: voided.has(first + k) ? 'void' : 'active',
    }));
  }

  /** The marks of the `page`-th run of `size` marks (1-based): one label sheet. */
  async page(
    batch: MarkBatchRow,
    page: number,
    size: number,
  ): Promise<Pick<BatchMark, 'serial' | 'status'>[]> {
    if (batch.number !== null) return this.after(batch, (page - 1) * size, batch.count, size);
    return batches.batchMarksPage(this.db, {
      batchId: batch.id,
      offset: (page - 1) * size,
      limit: size,
    });
  }
}
