import { bigserial, index, text, timestamp, uuid, pgTable } from 'drizzle-orm/pg-core';
import { issuers } from './issuers';

/** Every change of an issuer's status, so `at`-dated verification can replay it. */
export const issuerStatusEvents = pgTable(
  'issuer_status_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    issuerId: uuid('issuer_id')
      .notNull()
      .references(() => issuers.id),
    status: text('status', { enum: ['active', 'suspended'] }).notNull(),
    reason: text('reason'),
    actorKeyId: uuid('actor_key_id'),
    at: timestamp('at', { withTimezone: true }).notNull(),
  },
  (t) => [index('issuer_status_events_issuer_at').on(t.issuerId, t.at)],
);
