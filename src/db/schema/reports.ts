import { index, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { alerts } from './alerts';

/**
 * A consumer's report of a suspicious product or certificate (SPEC "Supervision"). `contact` is
 * personal data: supervisors see it with the alert, it never enters the public transparency log.
 */
export const reports = pgTable(
  'reports',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /**
     * What the reporter scanned or typed (a mark URL, code or serial), with a code cut to its
     * prefix: only the owning issuer may obtain a mark's code. The mark is the report's subject.
     */
    code: text('code'),
    certificateNumber: text('certificate_number'),
    description: text('description').notNull(),
    region: text('region'),
    contact: text('contact'),
    /** The subject the report was filed against (a mark serial, a certificate id, or the report). */
    subjectType: text('subject_type').notNull(),
    subject: text('subject').notNull(),
    alertId: uuid('alert_id')
      .notNull()
      .references(() => alerts.id),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  },
  // An alert's reports newest first, the latest few read from one range (anyone may report, so
  // an alert may hold any number of them).
  (t) => [index('reports_alert_latest').on(t.alertId, t.createdAt, t.id)],
);

export type ReportRow = typeof reports.$inferSelect;
