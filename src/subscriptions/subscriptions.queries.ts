import { and, desc, eq, inArray, isNull, ne, or, sql } from 'drizzle-orm';
import { certificates } from '../db/schema/certificates';
import { issuers } from '../db/schema/issuers';
import { uuidArray } from '../db/arrays';
import { rowsOf, type Queryable } from '../db/client';
import {
  subscriptions,
  webhookDeliveries,
  webhookDeliveryAttempts,
  type DeliveryState,
  type SubscriptionRow,
  type WebhookDeliveryAttemptRow,
  type WebhookDeliveryRow,
} from '../db/schema/subscriptions';
import { DELIVERY_QUEUE, QUEUE_SCHEMA } from './delivery-queue';

export type NewSubscription = typeof subscriptions.$inferInsert;

export async function insertSubscription(
  tx: Queryable,
  values: NewSubscription,
): Promise<SubscriptionRow> {
  const [row] = await tx.insert(subscriptions).values(values).returning();
  return row!;
}

export async function findSubscription(
  db: Queryable,
  id: string,
): Promise<SubscriptionRow | undefined> {
  const [row] = await db.select().from(subscriptions).where(eq(subscriptions.id, id)).limit(1);
  return row;
}

/** The live subscriptions of an API key (or of every key of an issuer). */
export async function listSubscriptions(
  db: Queryable,
  owner: { apiKeyId: string; issuerId: string | null },
): Promise<SubscriptionRow[]> {
  const ownedBy = owner.issuerId
    ? sql`(${subscriptions.apiKeyId} = ${owner.apiKeyId} OR (${subscriptions.role} = 'issuer' AND ${subscriptions.issuerId} = ${owner.issuerId}))`
    : eq(subscriptions.apiKeyId, owner.apiKeyId);
  return db
    .select()
    .from(subscriptions)
    .where(and(ownedBy, isNull(subscriptions.deletedAt)))
    .orderBy(desc(subscriptions.createdAt));
}

/** Ends a subscription: nothing more is written for it, and what was not delivered is cancelled. */
export async function deleteSubscription(
  tx: Queryable,
  params: { id: string; at: Date },
): Promise<SubscriptionRow | undefined> {
  const [row] = await tx
    .update(subscriptions)
    .set({ deletedAt: params.at })
    .where(and(eq(subscriptions.id, params.id), isNull(subscriptions.deletedAt)))
    .returning();
  if (row) await cancelPendingDeliveries(tx, [row.id]);
  return row;
}

/**
 * Ends the live subscriptions that belong to one API key alone, as its revocation does: every role's
 * but an issuer's, which belong to the issuer and which its other keys manage. Returns their ids.
 */
export async function endSubscriptionsOfKey(
  tx: Queryable,
  params: { apiKeyId: string; at: Date },
): Promise<string[]> {
  const ended = await tx
    .update(subscriptions)
    .set({ deletedAt: params.at })
    .where(
      and(
        eq(subscriptions.apiKeyId, params.apiKeyId),
        ne(subscriptions.role, 'issuer'),
        isNull(subscriptions.deletedAt),
      ),
    )
    .returning({ id: subscriptions.id });
  const ids = ended.map((row) => row.id);
  await cancelPendingDeliveries(tx, ids);
  return ids;
}

async function cancelPendingDeliveries(tx: Queryable, subscriptionIds: string[]): Promise<void> {
  if (subscriptionIds.length === 0) return;
  await tx
    .update(webhookDeliveries)
    .set({ state: 'cancelled', nextAttemptAt: null })
    .where(
      and(
        inArray(webhookDeliveries.subscriptionId, subscriptionIds),
        eq(webhookDeliveries.state, 'pending'),
      ),
    );
}

/** Certificates by id or number, for a filter; `issuerId` limits them to one issuer's. */
export async function certificatesNamed(
  db: Queryable,
  params: { ids: string[]; numbers: string[]; issuerId: string | null },
): Promise<{ id: string; number: string; issuerId: string; issuerName: string }[]> {
  if (params.ids.length === 0 && params.numbers.length === 0) return [];
  return db
    .select({
      id: certificates.id,
      number: certificates.number,
      issuerId: certificates.issuerId,
      issuerName: issuers.name,
    })
    .from(certificates)
    .innerJoin(issuers, eq(issuers.id, certificates.issuerId))
    .where(
      and(
        or(inArray(certificates.id, params.ids), inArray(certificates.number, params.numbers)),
        params.issuerId ? eq(certificates.issuerId, params.issuerId) : undefined,
      ),
    );
}

export async function listDeliveries(
  db: Queryable,
  params: {
    subscriptionId: string;
    state?: DeliveryState | undefined;
    page: number;
    pageSize: number;
  },
): Promise<{ rows: WebhookDeliveryRow[]; total: number }> {
  const where = and(
    eq(webhookDeliveries.subscriptionId, params.subscriptionId),
    params.state ? eq(webhookDeliveries.state, params.state) : undefined,
  );
  const rows = await db
    .select()
    .from(webhookDeliveries)
    .where(where)
    .orderBy(desc(webhookDeliveries.createdAt), desc(webhookDeliveries.id))
    .limit(params.pageSize)
    .offset((params.page - 1) * params.pageSize);
  const [count] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(webhookDeliveries)
    .where(where);
  return { rows, total: Number(count?.n ?? 0) };
}

/** The latest attempts of each delivery (newest first), at most `perDelivery` each. */
export async function attemptsOf(
  db: Queryable,
  deliveryIds: string[],
  perDelivery: number,
): Promise<WebhookDeliveryAttemptRow[]> {
  if (deliveryIds.length === 0) return [];
  const rows = await db
    .select()
    .from(webhookDeliveryAttempts)
    .where(inArray(webhookDeliveryAttempts.deliveryId, deliveryIds))
    .orderBy(desc(webhookDeliveryAttempts.at));
  const kept = new Map<string, number>();
  return rows.filter((r) => {
    const n = kept.get(r.deliveryId) ?? 0;
    kept.set(r.deliveryId, n + 1);
    return n < perDelivery;
  });
}

// Delivery side -------------------------------------------------------------------------------

/** A delivery with what sending it needs; undefined when there is nothing (left) to send. */
export async function deliveryToSend(db: Queryable, id: string) {
  const [row] = await db
    .select({
      id: webhookDeliveries.id,
      state: webhookDeliveries.state,
      attempts: webhookDeliveries.attempts,
      payload: webhookDeliveries.payload,
      subscriptionId: subscriptions.id,
      url: subscriptions.url,
      secretWrapped: subscriptions.secretWrapped,
      deletedAt: subscriptions.deletedAt,
    })
    .from(webhookDeliveries)
    .innerJoin(subscriptions, eq(subscriptions.id, webhookDeliveries.subscriptionId))
    .where(eq(webhookDeliveries.id, id))
    .limit(1);
  return row && row.state === 'pending' && !row.deletedAt ? row : undefined;
}

/**
 * Records one attempt and its effect on the delivery: delivered, failed for good, or still pending
 * (with, for the embedded drain, when to try next).
 */
export async function recordAttempt(
  db: Queryable,
  params: {
    deliveryId: string;
    at: Date;
    durationMs: number;
    status: number | null;
    error: string | null;
    next: { state: 'delivered' | 'failed' } | { state: 'pending'; nextAttemptAt: Date | null };
  },
): Promise<void> {
  await db.insert(webhookDeliveryAttempts).values({
    deliveryId: params.deliveryId,
    at: params.at,
    durationMs: params.durationMs,
    status: params.status,
    error: params.error,
  });
  await db
    .update(webhookDeliveries)
    .set({
      state: params.next.state,
      attempts: sql`${webhookDeliveries.attempts} + 1`,
      lastAttemptAt: params.at,
      lastStatus: params.status,
      lastError: params.error,
      deliveredAt: params.next.state === 'delivered' ? params.at : null,
      nextAttemptAt: params.next.state === 'pending' ? params.next.nextAttemptAt : null,
    })
    .where(
      and(eq(webhookDeliveries.id, params.deliveryId), eq(webhookDeliveries.state, 'pending')),
    );
}

/**
 * When the job queue will next try each of these deliveries (PostgreSQL: pg-boss schedules a
 * retry, so the delivery's own row does not know), for those waiting for an attempt: a job already
 * due and waiting for a worker is due now. A job under way is not waiting (the row tells).
 */
export async function queuedAttemptTimes(db: Queryable, ids: string[]): Promise<Map<string, Date>> {
  if (ids.length === 0) return new Map();
  const rows = rowsOf<{ id: string; due: Date | string }>(
    await db.execute(sql`
      SELECT id, greatest(start_after, now()) AS due FROM ${sql.identifier(QUEUE_SCHEMA)}.job
      WHERE name = ${DELIVERY_QUEUE} AND id = ANY(${uuidArray(ids)}) AND state IN ('created', 'retry')`),
  );
  return new Map(rows.map((r) => [r.id, new Date(r.due)]));
}

/**
 * Ends, as failed, the deliveries handed to the job queue whose job has ended or is gone while the
 * delivery still waits: its last attempt's outcome was never recorded (the worker died during the
 * final attempt and the job expired, or the attempt's record failed on the final attempt). Left
 * pending, they would stay so forever, and count in their subscription's backlog. Only those
 * handed over before `handedOverBefore`: a job and its delivery's mark are not written at once.
 */
export async function endOrphanedDeliveries(
  db: Queryable,
  handedOverBefore: Date,
): Promise<number> {
  const rows = rowsOf<{ id: string }>(
    await db.execute(sql`
      UPDATE webhook_deliveries AS d
      SET state = 'failed', next_attempt_at = NULL,
        last_error = 'the job queue ended it without recording its last attempt'
      WHERE d.state = 'pending' AND d.queued_at < ${handedOverBefore.toISOString()}::timestamptz
        AND NOT EXISTS (
          SELECT 1 FROM ${sql.identifier(QUEUE_SCHEMA)}.job AS j
          WHERE j.name = ${DELIVERY_QUEUE} AND j.id = d.id
            AND j.state IN ('created', 'retry', 'active'))
      RETURNING d.id`),
  );
  return rows.length;
}

/**
 * A subscriber's backlog is counted up to this: past it, its deliveries share the lowest rank and
 * go oldest first. Counting further would cost the relay more for each delivery of a burst the
 * larger the burst (a page of 100 counted 300,000 rows in 81 ms).
 */
export const BACKLOG_COUNTED = 10_000;

/** A delivery the relay hands over, and how many of its subscriber's are ahead of it. */
export interface UnqueuedDelivery {
  id: string;
  /**
   * Its subscriber's deliveries (of every subscription of the same API key) already handed over
   * and not yet ended, counted up to {@link BACKLOG_COUNTED}, plus those ahead of it in this
   * batch: 0 for a subscriber with nothing outstanding.
   */
  backlog: number;
}

/**
 * The relay's batch: pending deliveries not yet handed to the job queue, oldest first, locked (SKIP
 * LOCKED, so instances share the work) until the caller's transaction marks them queued; each with
 * its subscriber's backlog, which orders the queue (see the dispatcher's relay). A subscriber is
 * the API key that owns the subscription: one key's many subscriptions to a receiver that never
 * answers share one backlog, so they cannot crowd out another key's deliveries as many
 * subscribers (an outside probe: 121 subscriptions of one key delayed another's delivery 33 s).
 * Two instances relaying at once each count only what the other has committed, so a burst's ranks
 * can repeat once per instance.
 */
export async function lockUnqueuedDeliveries(
  tx: Queryable,
  limit: number,
): Promise<UnqueuedDelivery[]> {
  const rows = rowsOf<{ id: string; backlog: number }>(
    await tx.execute(sql`
      WITH batch AS (
        SELECT id, subscription_id, created_at FROM webhook_deliveries
        WHERE state = 'pending' AND queued_at IS NULL
        ORDER BY created_at LIMIT ${limit}
        FOR UPDATE SKIP LOCKED
      ), owned AS (
        SELECT batch.id, batch.created_at, s.api_key_id
        FROM batch JOIN subscriptions AS s ON s.id = batch.subscription_id
      ), outstanding AS (
        SELECT subscriber.id AS api_key_id, counted.n
        FROM (SELECT DISTINCT api_key_id AS id FROM owned) AS subscriber
        CROSS JOIN LATERAL (
          SELECT count(*)::int AS n FROM (
            SELECT 1 FROM subscriptions AS mine
              JOIN webhook_deliveries AS w ON w.subscription_id = mine.id
            WHERE mine.api_key_id = subscriber.id AND w.state = 'pending'
              AND w.queued_at IS NOT NULL
            LIMIT ${BACKLOG_COUNTED}
          ) AS handed_over
        ) AS counted
      )
      SELECT owned.id,
        outstanding.n
          + (row_number() OVER (PARTITION BY owned.api_key_id ORDER BY owned.created_at, owned.id))::int
          - 1 AS backlog
      FROM owned JOIN outstanding USING (api_key_id)
      ORDER BY owned.created_at, owned.id`),
  );
  return rows.map((r) => ({ id: r.id, backlog: Math.min(Number(r.backlog), BACKLOG_COUNTED) }));
}

export async function markQueued(tx: Queryable, ids: string[], at: Date): Promise<void> {
  if (ids.length === 0) return;
  await tx
    .update(webhookDeliveries)
    .set({ queuedAt: at })
    .where(inArray(webhookDeliveries.id, ids));
}

/**
 * The embedded drain's batch: pending deliveries whose next attempt is due, taken in turn from each
 * subscriber (the API key owning the subscriptions: each one's earliest due first, then each one's
 * second…), so a subscriber with many due cannot fill a batch while another's wait behind them.
 * Each subscription gives at most `limit` (its index serves them in order), so a large backlog is
 * not read whole on every pass.
 */
export async function dueDeliveries(db: Queryable, now: Date, limit: number): Promise<string[]> {
  const rows = rowsOf<{ id: string }>(
    await db.execute(sql`
      SELECT due.id FROM (
        SELECT w.id, w.next_attempt_at,
          row_number() OVER (PARTITION BY s.api_key_id ORDER BY w.next_attempt_at, w.id) AS turn
        FROM subscriptions AS s
        CROSS JOIN LATERAL (
          SELECT id, next_attempt_at FROM webhook_deliveries
          WHERE subscription_id = s.id AND state = 'pending'
            AND next_attempt_at <= ${now.toISOString()}::timestamptz
          ORDER BY next_attempt_at, id LIMIT ${limit}
        ) AS w
      ) AS due
      ORDER BY due.turn, due.next_attempt_at, due.id LIMIT ${limit}`),
  );
  return rows.map((r) => r.id);
}
