import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Queryable } from '../db/client';
import type { WebhookEventType } from '../db/schema/subscriptions';

/** The channel a committed outbox write is announced on (NOTIFY is delivered at commit only). */
export const OUTBOX_CHANNEL = 'certmark_webhooks';

/** One change to tell subscribers of, recorded by the feature that made it. */
export interface WebhookEvent {
  type: WebhookEventType;
  /** When the change happened (the message's `timestamp`). */
  at: Date;
  /** The issuer the change concerns: its own subscriptions hear of it. */
  issuerId: string | null;
  /** The certificate it concerns, matched against a subscription's filter. */
  certificateId: string | null;
  /**
   * The message's `data`. What a `subscriber` key hears is public facts only (what
   * GET /v1/certificates/{id} shows anyone): `data` itself, or `publicData` when given.
   */
  data: Record<string, unknown>;
  /** What a `subscriber` key hears instead of `data`, when `data` holds more than public facts. */
  publicData?: Record<string, unknown>;
}

/**
 * Writes the event's deliveries, one per subscription that may and wants to hear of it, in the
 * caller's transaction: the outbox commits with the change or not at all, and a committed row is
 * delivered at least once however the process ends. Who hears what:
 * - a supervisor's subscription: every event;
 * - an issuer's: events about its own certificates, marks, exemptions and itself;
 * - customs': exemption consumption;
 * - a subscriber's: the certificates its filter names, and their issuer's status, in public facts.
 * A filter (`certificate_ids`) narrows any of them to the certificates it names.
 */
export async function recordEvent(tx: Queryable, event: WebhookEvent): Promise<void> {
  const message = (data: Record<string, unknown>) =>
    JSON.stringify({ type: event.type, timestamp: event.at.toISOString(), data });
  const payload = message(event.data);
  const publicPayload = event.publicData ? message(event.publicData) : payload;
  const certificateId = event.certificateId;
  // An issuer's status change reaches a filtered subscription that follows any of its certificates.
  const followsIssuer =
    event.type === 'issuer.status_changed' && event.issuerId
      ? sql`EXISTS (SELECT 1 FROM certificates AS c WHERE c.id = ANY(s.certificate_ids) AND c.issuer_id = ${event.issuerId}::uuid)`
      : sql`false`;
  await tx.execute(sql`
    WITH written AS (
      INSERT INTO webhook_deliveries (subscription_id, event_id, event_type, payload, state, next_attempt_at, created_at)
      SELECT s.id, ${randomUUID()}::uuid, ${event.type},
        CASE WHEN s.role = 'subscriber' THEN ${publicPayload}::jsonb ELSE ${payload}::jsonb END, 'pending', ${event.at.toISOString()}::timestamptz, ${event.at.toISOString()}::timestamptz
      FROM subscriptions AS s
      WHERE s.deleted_at IS NULL AND ${event.type} = ANY(s.events)
        AND (s.role = 'supervisor'
          OR (s.role = 'issuer' AND s.issuer_id = ${event.issuerId}::uuid)
          OR (s.role = 'customs' AND ${event.type} IN ('exemption.consumed', 'exemption.exhausted'))
          OR (s.role = 'subscriber' AND s.certificate_ids IS NOT NULL))
        AND (s.certificate_ids IS NULL OR ${certificateId}::uuid = ANY(s.certificate_ids) OR ${followsIssuer})
        -- A key's own subscription is heard only while the key is valid (revoking one ends them;
        -- keys revoked before that rule still own live rows). An issuer's are the issuer's.
        AND (s.role = 'issuer'
          OR NOT EXISTS (SELECT 1 FROM api_keys AS k WHERE k.id = s.api_key_id AND k.revoked_at IS NOT NULL))
      RETURNING 1)
    SELECT pg_notify(${OUTBOX_CHANNEL}, '') FROM (SELECT count(*) AS n FROM written) AS w WHERE w.n > 0`);
}

/** The events each role may subscribe to (who may follow what, issue 13). */
export const eventsByRole: Record<string, readonly WebhookEventType[]> = {
  supervisor: [
    'certificate.status_changed',
    'issuer.status_changed',
    'exemption.consumed',
    'exemption.exhausted',
    'alert.opened',
    'mark.flagged',
    'mark.cleared',
  ],
  issuer: [
    'certificate.status_changed',
    'issuer.status_changed',
    'exemption.consumed',
    'exemption.exhausted',
    'mark.flagged',
    'mark.cleared',
  ],
  customs: ['exemption.consumed', 'exemption.exhausted'],
  // Public facts only: a certificate's status, its issuer's, an exemption's quantity used (without
  // the declaration: see the customs service) and used up.
  subscriber: [
    'certificate.status_changed',
    'issuer.status_changed',
    'exemption.consumed',
    'exemption.exhausted',
  ],
  admin: [],
};
