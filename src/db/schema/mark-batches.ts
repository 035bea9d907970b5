import { sql } from 'drizzle-orm';
import { check, index, integer, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { certificates } from './certificates';
import { issuers } from './issuers';
import { signingKeys } from './signing-keys';

export const markBatchStatuses = ['pending', 'running', 'done', 'failed'] as const;
export type MarkBatchStatus = (typeof markBatchStatuses)[number];

/**
 * One issuance of product marks for a certificate (SPEC "Product marks"). A batch is filled by a
 * background job; `done` counts the marks written so far and moves in the same transaction as
 * they do, so a restarted job knows exactly how many are left. Marks of a batch verify only once
 * it is `done`. `kid` is the key every mark of the batch is signed with: codes are never stored,
 * they are re-derived (Ed25519 is deterministic) from the serial and this key.
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
  },
  (t) => [
    index('mark_batches_certificate').on(t.certificateId),
    index('mark_batches_unfinished')
      .on(t.createdAt)
      .where(sql`${t.status} IN ('pending', 'running')`),
    check('mark_batches_count_range', sql`${t.count} BETWEEN 1 AND 1000000`),
    check('mark_batches_done_range', sql`${t.done} BETWEEN 0 AND ${t.count}`),
  ],
);

export type MarkBatchRow = typeof markBatches.$inferSelect;
