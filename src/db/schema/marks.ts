import { sql } from 'drizzle-orm';
import {
  bigint,
  doublePrecision,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  index,
  uuid,
} from 'drizzle-orm/pg-core';
import { certificates } from './certificates';
import { markBatches } from './mark-batches';

export const markStatuses = ['active', 'void'] as const;
export type MarkStatus = (typeof markStatuses)[number];

/** Provinces (GB/T 2260 first two digits) a mark was verified from, each with its last time (epoch ms). */
export type RecentProvincesJson = Record<string, number>;
/** Coordinates a mark was verified at within the distance window: [lat, lon, epoch ms]. */
export type RecentPointsJson = [number, number, number][];

/**
 * The state of one product mark that has some: it was scanned or voided (a mark of a numbered batch
 * has no row until then: its serial locates it, see mark-batches), or it belongs to a batch issued
 * before positional serials (one row per mark, written at issuance). The 16-digit serial is the key
 * (a bigint: 16 digits exceed 2^53); the signed code is not stored but re-derived from the serial
 * and the batch's key. `certificate_id` is the batch's, copied so a mark's certificate is one join
 * away. The scan columns are maintained by one atomic UPDATE per group of verifications, so counts
 * and the clone decision stay exact when several instances share the database; the detailed scan
 * log is `mark_scans`. `window_scan_count`, `recent_provinces` and `recent_points` are the
 * clone-detection window, reset when a supervisor clears a suspected clone.
 */
export const marks = pgTable(
  'marks',
  {
    serial: bigint('serial', { mode: 'bigint' }).primaryKey(),
    batchId: uuid('batch_id')
      .notNull()
      .references(() => markBatches.id),
    /**
     * Position in the batch, 1-based, in issuance order (in an older batch a rare serial collision
     * left a gap). A batch's void marks are found by (batch_id, ordinal).
     */
    ordinal: integer('ordinal').notNull(),
    certificateId: uuid('certificate_id')
      .notNull()
      .references(() => certificates.id),
    status: text('status', { enum: markStatuses }).notNull().default('active'),
    voidReason: text('void_reason'),
    voidedAt: timestamp('voided_at', { withTimezone: true }),
    scanCount: integer('scan_count').notNull().default(0),
    firstScanAt: timestamp('first_scan_at', { withTimezone: true }),
    firstScanRegion: text('first_scan_region'),
    firstScanLat: doublePrecision('first_scan_lat'),
    firstScanLon: doublePrecision('first_scan_lon'),
    lastScanAt: timestamp('last_scan_at', { withTimezone: true }),
    windowScanCount: integer('window_scan_count').notNull().default(0),
    recentProvinces: jsonb('recent_provinces')
      .$type<RecentProvincesJson>()
      .notNull()
      .default(sql`'{}'::jsonb`),
    recentPoints: jsonb('recent_points')
      .$type<RecentPointsJson>()
      .notNull()
      .default(sql`'[]'::jsonb`),
    cloneFlaggedAt: timestamp('clone_flagged_at', { withTimezone: true }),
    cloneClearedAt: timestamp('clone_cleared_at', { withTimezone: true }),
  },
  // Not unique: a row's (batch, position) follows from its serial, which is the key. As a second
  // unique index it would let two first scans of one mark at once fail (the ON CONFLICT of
  // scan counting arbitrates the serial only) instead of one waiting to count on the other's row.
  (t) => [index('marks_batch_ordinal').on(t.batchId, t.ordinal)],
);

export type MarkRow = typeof marks.$inferSelect;
