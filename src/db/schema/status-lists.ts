import { sql } from 'drizzle-orm';
import {
  check,
  index,
  integer,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { certificates } from './certificates';
import { issuers } from './issuers';
import { markBatches } from './mark-batches';
import { bytea } from './signing-keys';

export const statusPurposes = ['revocation', 'suspension'] as const;
export type StatusPurpose = (typeof statusPurposes)[number];

/**
 * One W3C Bitstring Status List of an issuer, published as a signed
 * `BitstringStatusListCredential` at `/v1/status-lists/{id}`. Either a certificate list (one bit
 * per certificate at a random index handed out once, `status_list_entries`) or a mark batch's list
 * (`batch_id` set: one bit per mark by its position in the batch, set when the mark is voided).
 * `bits` is the bitstring itself, index 0 the most significant bit of the first byte; every change
 * of a bit happens in the transaction of the status change and bumps `version`, which is what a
 * read compares to know whether its signed copy is current.
 */
export const statusLists = pgTable(
  'status_lists',
  {
    id: uuid('id').primaryKey(),
    issuerId: uuid('issuer_id')
      .notNull()
      .references(() => issuers.id),
    purpose: text('purpose', { enum: statusPurposes }).notNull(),
    batchId: uuid('batch_id').references(() => markBatches.id),
    /** Entries (bits) in the list: at least 131,072. */
    length: integer('length').notNull(),
    /** Indexes handed out so far (certificate lists); a list hands out at most its capacity. */
    allocated: integer('allocated').notNull().default(0),
    bits: bytea('bits').notNull(),
    version: integer('version').notNull().default(0),
    /** When a bit last changed (or the list was created): the signed list's earliest validFrom. */
    changedAt: timestamp('changed_at', { withTimezone: true }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  },
  (t) => [
    index('status_lists_open')
      .on(t.issuerId, t.purpose, t.createdAt)
      .where(sql`${t.batchId} IS NULL`),
    uniqueIndex('status_lists_batch').on(t.batchId),
    check(
      'status_lists_length',
      sql`${t.length} >= 131072 AND octet_length(${t.bits}) * 8 >= ${t.length}`,
    ),
    check('status_lists_allocated', sql`${t.allocated} BETWEEN 0 AND ${t.length}`),
  ],
);

export type StatusListRow = typeof statusLists.$inferSelect;

/**
 * A certificate's place in a certificate list: one entry per purpose. The primary key makes an
 * index of a list impossible to hand out twice (W3C: indexes are never reused).
 */
export const statusListEntries = pgTable(
  'status_list_entries',
  {
    listId: uuid('list_id')
      .notNull()
      .references(() => statusLists.id),
    index: integer('index').notNull(),
    certificateId: uuid('certificate_id')
      .notNull()
      .references(() => certificates.id),
  },
  (t) => [
    primaryKey({ columns: [t.listId, t.index] }),
    index('status_list_entries_certificate').on(t.certificateId),
  ],
);
