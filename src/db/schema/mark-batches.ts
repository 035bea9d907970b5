import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  index,
  integer,
  pgSequence,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { MAX_BATCH_NUMBER } from '../../crypto/mark-serial-cipher';
import { certificates } from './certificates';
import { issuers } from './issuers';
import { signingKeys } from './signing-keys';

export const markBatchStatuses = ['pending', 'running', 'done', 'failed'] as const;
export type MarkBatchStatus = (typeof markBatchStatuses)[number];

/**
 * One issuance of product marks for a certificate (SPEC "Product marks"). A batch has a `number`,
 * and mark `p` of it the serial that encrypts (number, p) (crypto/mark-serial-cipher): its marks
 * exist as soon as the batch does, with no row each, so a batch is `done` when it is recorded. A
 * mark gets a row in `marks` only once it is scanned or voided. `kid` is the key every mark of the
 * batch is signed with: codes are never stored, they are re-derived (Ed25519 is deterministic)
 * from the serial and this key.
 *
 * Batches issued before positional serials have no number: their marks were written one row each
 * by a background job (`done` counted them), and their random serials are found by those rows.
 */
export const markBatches = pgTable(
  'mark_batches',
  {
    id: uuid('id').primaryKey(),
    certificateId: uuid('certificate_id')
      .notNull()
      .references(() => certificates.id),
    issuerId: uuid('issuer_id')
      .notNull()
      .references(() => issuers.id),
    kid: text('kid')
      .notNull()
      .references(() => signingKeys.kid),
    count: integer('count').notNull(),
    done: integer('done').notNull().default(0),
    model: text('model'),
    lot: text('lot'),
    status: text('status', { enum: markBatchStatuses }).notNull().default('pending'),
    error: text('error'),
    createdByKeyId: uuid('created_by_key_id'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    /** From `mark_batch_numbers`, skipping `mark_batch_numbers_taken`; null for an older batch. */
    number: bigint('number', { mode: 'number' }),
  },
  (t) => [
    uniqueIndex('mark_batches_number').on(t.number),
    index('mark_batches_certificate').on(t.certificateId),
    index('mark_batches_unfinished')
      .on(t.createdAt)
      .where(sql`${t.status} IN ('pending', 'running')`),
    check('mark_batches_count_range', sql`${t.count} BETWEEN 1 AND 1000000`),
    check('mark_batches_done_range', sql`${t.done} BETWEEN 0 AND ${t.count}`),
    // Added NOT VALID (migration 0018): older batches keep their null number, while any batch
    // recorded or changed since must have one, so an instance of the older code still running
    // during an upgrade cannot issue (or fill) a random-serial batch that nothing reserves.
    check('mark_batches_numbered', sql`${t.number} IS NOT NULL`),
  ],
);

export type MarkBatchRow = typeof markBatches.$inferSelect;

/** Batch numbers, 1 … MAX_BATCH_NUMBER (every position of every batch below 10^14). */
export const markBatchNumbers = pgSequence('mark_batch_numbers', {
  startWith: 1,
  minValue: 1,
  maxValue: MAX_BATCH_NUMBER,
  cycle: false,
});

/**
 * Batch numbers never to be given: some serial of a batch issued before positional serials
 * decrypts into their range, and a new mark must never share a serial with an old one.
 */
export const markBatchNumbersTaken = pgTable('mark_batch_numbers_taken', {
  number: bigint('number', { mode: 'number' }).primaryKey(),
});

/**
 * How far the serials of older batches have been read into `mark_batch_numbers_taken` (keyset on
 * the serial). New batches are issued once `done`: a database that had no marks at the upgrade
 * starts done.
 */
export const markSerialsUpgrade = pgTable(
  'mark_serials_upgrade',
  {
    id: boolean('id').primaryKey().default(true),
    through: bigint('through', { mode: 'bigint' }),
    done: boolean('done').notNull(),
  },
  (t) => [check('mark_serials_upgrade_one_row', sql`${t.id}`)],
);
