import {
  bigint,
  bigserial,
  boolean,
  doublePrecision,
  index,
  pgTable,
  primaryKey,
  text,
  timestamp,
} from 'drizzle-orm/pg-core';

/**
 * The detailed log of mark verifications (SPEC "Verification": every verification is recorded).
 * Written in batches from an in-process buffer so recording never slows an answer; the counters
 * that must be exact live on the mark row. `serial` is whatever serial the request carried, so it
 * may name no mark (forgeries are logged too); it has no foreign key on purpose.
 *
 * Partitioned by range of `at`, one partition per calendar month (UTC), named `mark_scans_YYYY_MM`
 * (rows from before partitioning: `mark_scans_before_YYYY_MM`). drizzle cannot declare
 * partitioning: migration 0010 does, and ../../marks/scan-log-partitions.ts creates partitions
 * ahead and drops those past SCAN_RETENTION_DAYS. The primary key holds `at` because a unique
 * constraint on a partitioned table must hold the partition key.
 */
export const markScans = pgTable(
  'mark_scans',
  {
    id: bigserial('id', { mode: 'number' }).notNull(),
    serial: bigint('serial', { mode: 'bigint' }),
    at: timestamp('at', { withTimezone: true }).notNull(),
    region: text('region'),
    lat: doublePrecision('lat'),
    lon: doublePrecision('lon'),
    /** The API key role of the caller, or null for the public. */
    callerRole: text('caller_role'),
    /** 'api' (POST /v1/verify/mark) or 'page' (GET /m/{code}). */
    channel: text('channel').notNull(),
    verdict: text('verdict').notNull(),
    reasons: text('reasons').array().notNull(),
    /**
     * False for a repeat view of the mark's page from the same browser within the window: logged,
     * but not counted toward the scan count and the clone thresholds.
     */
    counted: boolean('counted').notNull().default(true),
  },
  (t) => [
    primaryKey({ name: 'mark_scans_pkey', columns: [t.id, t.at] }),
    index('mark_scans_serial_at').on(t.serial, t.at),
  ],
);

export type MarkScanRow = typeof markScans.$inferSelect;
