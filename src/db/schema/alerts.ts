import { sql } from 'drizzle-orm';
import {
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { apiKeys } from './api-keys';
import { certificates } from './certificates';
import { issuers } from './issuers';

/** forged > misused > suspicious (SPEC "Verification"): the order supervisors work in. */
export const alertSeverities = ['forged', 'misused', 'suspicious'] as const;
export type AlertSeverity = (typeof alertSeverities)[number];

export const alertStatuses = ['open', 'resolved'] as const;
export type AlertStatus = (typeof alertStatuses)[number];

/**
 * One alert for supervisors per subject (a mark serial, a certificate, a presented code…) and
 * reason, counting repeats. Only one may be open at a time for a subject and reason: the partial
 * unique index makes concurrent raises from several service instances collapse into one row
 * (INSERT … ON CONFLICT … DO UPDATE). Once resolved, a new finding opens a new alert.
 */
export const alerts = pgTable(
  'alerts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    subjectType: text('subject_type').notNull(),
    subject: text('subject').notNull(),
    /** A verification reason code (`BAD_SIGNATURE`, `SUSPECTED_CLONE`…) or `REPORTED`. */
    reason: text('reason').notNull(),
    severity: text('severity', { enum: alertSeverities }).notNull(),
    status: text('status', { enum: alertStatuses }).notNull().default('open'),
    /** How many findings this alert stands for (the first one included). */
    count: integer('count').notNull().default(1),
    firstSeen: timestamp('first_seen', { withTimezone: true }).notNull(),
    lastSeen: timestamp('last_seen', { withTimezone: true }).notNull(),
    /** Distinct GB/T 2260 regions the findings came from, sorted. */
    regions: text('regions')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    issuerId: uuid('issuer_id').references(() => issuers.id),
    certificateId: uuid('certificate_id').references(() => certificates.id),
    /** The finding that opened the alert: where it came from, its verdict, reasons and context. */
    channel: text('channel').notNull(),
    verdict: text('verdict').notNull(),
    reasons: jsonb('reasons').$type<{ code: string; message: string }[]>().notNull(),
    context: jsonb('context').$type<Record<string, unknown>>(),
    /** The latest repeat's channel and context, so a supervisor sees how the alert evolved. */
    lastChannel: text('last_channel'),
    lastContext: jsonb('last_context').$type<Record<string, unknown>>(),
    resolutionNote: text('resolution_note'),
    resolvedBy: uuid('resolved_by').references(() => apiKeys.id),
    resolvedAt: timestamp('resolved_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('alerts_one_open_per_subject_reason')
      .on(t.subjectType, t.subject, t.reason)
      .where(sql`status = 'open'`),
    index('alerts_status_last_seen').on(t.status, t.lastSeen),
    index('alerts_issuer').on(t.issuerId),
    index('alerts_subject').on(t.subjectType, t.subject),
  ],
);

export type AlertRow = typeof alerts.$inferSelect;
