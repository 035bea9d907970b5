import { bigserial, index, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { certificates, certificateStatuses, type SignatoryJson } from './certificates';

/** The status history of a certificate: answers "was it valid on that day" (`at`). */
export const certificateStatusEvents = pgTable(
  'certificate_status_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    certificateId: uuid('certificate_id')
      .notNull()
      .references(() => certificates.id),
    status: text('status', { enum: certificateStatuses }).notNull(),
    reason: text('reason'),
    signatory: jsonb('signatory').$type<SignatoryJson>(),
    actorKeyId: uuid('actor_key_id'),
    at: timestamp('at', { withTimezone: true }).notNull(),
  },
  (t) => [index('certificate_status_events_cert_at').on(t.certificateId, t.at)],
);
