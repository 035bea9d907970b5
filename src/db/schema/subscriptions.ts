import { sql } from 'drizzle-orm';
import { index, integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { apiKeys, roles } from './api-keys';
import { issuers } from './issuers';
import { bytea } from './signing-keys';

/** What a subscription can be told (SPEC "Standards and integration": Subscriptions). */
export const webhookEventTypes = [
  'certificate.status_changed',
  'issuer.status_changed',
  'exemption.consumed',
  'exemption.exhausted',
  'alert.opened',
  'mark.flagged',
  'mark.cleared',
] as const;
export type WebhookEventType = (typeof webhookEventTypes)[number];

/**
 * A webhook subscription of one API key. Who may follow what is decided when it is created (its
 * owner's role, and for an issuer its issuer, are copied here so matching an event is one query);
 * `certificate_ids` narrows it to the certificates its filter named. Deleting keeps the row (its
 * deliveries stay readable in the audit trail) and stops every delivery not yet made.
 */
export const subscriptions = pgTable(
  'subscriptions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    apiKeyId: uuid('api_key_id')
      .notNull()
      .references(() => apiKeys.id),
    role: text('role', { enum: roles }).notNull(),
    issuerId: uuid('issuer_id').references(() => issuers.id),
    url: text('url').notNull(),
    events: text('events').array().notNull(),
    /** The certificates the filter named, resolved to ids; null follows every permitted one. */
    certificateIds: uuid('certificate_ids').array(),
    /** The filter as given, echoed back in listings. */
    filter: jsonb('filter').$type<{ certificates: string[] }>(),
    /** The Standard Webhooks signing secret, AES-GCM wrapped under the key-encryption key. */
    secretWrapped: bytea('secret_wrapped').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    deletedAt: timestamp('deleted_at', { withTimezone: true }),
  },
  (t) => [
    index('subscriptions_api_key').on(t.apiKeyId),
    index('subscriptions_issuer').on(t.issuerId),
  ],
);

export const deliveryStates = ['pending', 'delivered', 'failed', 'cancelled'] as const;
export type DeliveryState = (typeof deliveryStates)[number];

/**
 * The outbox: one message for one subscription, written in the transaction that made the change,
 * so a committed change always has its deliveries and a rolled-back one never does. Its id is the
 * Standard Webhooks `webhook-id`, the same on every attempt (the receiver's idempotency key).
 */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    subscriptionId: uuid('subscription_id')
      .notNull()
      .references(() => subscriptions.id),
    /** One change told to several subscriptions shares its event id. */
    eventId: uuid('event_id').notNull(),
    eventType: text('event_type', { enum: webhookEventTypes }).notNull(),
    /** The message body, `{ type, timestamp, data }`, exactly as it is signed and sent. */
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    state: text('state', { enum: deliveryStates }).notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    /** When the embedded drain tries next (PGlite); with PostgreSQL the job queue schedules. */
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true }),
    /** When it was handed to the job queue (PostgreSQL); null until then. */
    queuedAt: timestamp('queued_at', { withTimezone: true }),
    lastAttemptAt: timestamp('last_attempt_at', { withTimezone: true }),
    lastStatus: integer('last_status'),
    lastError: text('last_error'),
    deliveredAt: timestamp('delivered_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  },
  (t) => [
    index('webhook_deliveries_subscription').on(t.subscriptionId, t.createdAt),
    index('webhook_deliveries_pending')
      .on(t.nextAttemptAt)
      .where(sql`state = 'pending'`),
    // A subscription's pending deliveries: those due in order (the embedded drain), and those
    // handed to the job queue, its backlog (the relay), both read from the index alone.
    index('webhook_deliveries_subscription_pending')
      .on(t.subscriptionId, t.nextAttemptAt, t.queuedAt)
      .where(sql`state = 'pending'`),
  ],
);

/** Every attempt at a delivery, for the subscriber's delivery log. */
export const webhookDeliveryAttempts = pgTable(
  'webhook_delivery_attempts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    deliveryId: uuid('delivery_id')
      .notNull()
      .references(() => webhookDeliveries.id),
    at: timestamp('at', { withTimezone: true }).notNull(),
    durationMs: integer('duration_ms').notNull(),
    /** The receiver's HTTP status, when it answered. */
    status: integer('status'),
    /** Why it failed, as a short code (`timeout`, `connection_refused`, `http_503`…). */
    error: text('error'),
  },
  (t) => [index('webhook_delivery_attempts_delivery').on(t.deliveryId, t.at)],
);

export type SubscriptionRow = typeof subscriptions.$inferSelect;
export type WebhookDeliveryRow = typeof webhookDeliveries.$inferSelect;
export type WebhookDeliveryAttemptRow = typeof webhookDeliveryAttempts.$inferSelect;
