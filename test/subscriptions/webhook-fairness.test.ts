import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { rowsOf } from '../../src/db/client';
import { dueDeliveries } from '../../src/subscriptions/subscriptions.queries';
import type { WebhookDispatcher } from '../../src/subscriptions/webhook-dispatcher';
import { client, createTestContext, type Client, type TestContext } from '../helpers';
import { createIssuer, issueCertificate } from '../fixtures';
import { startTestDispatcher } from './dispatcher';
import { startReceiver, type ReceiverStep } from './receiver';

/**
 * One subscriber's receiver that never answers, sent a burst of events, must not hold up another
 * subscriber's deliveries: each attempt at it holds a worker for a whole timeout, so taken in
 * order of age the burst would keep every worker until it was all tried.
 */
describe('webhook fairness', () => {
  const BURST = 12;
  /** Subscriptions of one key whose receivers never answer (the last test). */
  const MANY = 8;
  const WORKERS = 2;
  let ctx: TestContext;
  let api: Client;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let dispatcher: WebhookDispatcher | undefined;
  /** The second test's hanging subscription, whose deliveries wait for their retries. */
  let hangingSubscription: string;

  beforeAll(async () => {
    ctx = await createTestContext({
      WEBHOOK_TIMEOUT_SECONDS: '3',
      // Retries come back long after the test: every attempt counted is a first attempt.
      WEBHOOK_RETRY_DELAY_SECONDS: '120',
    });
    api = client(ctx.app);
    receiver = await startReceiver({
      '/hang': ['hang'],
      '/hang2': ['hang'],
      ...Object.fromEntries(
        Array.from({ length: MANY }, (_, i) => [`/many${i}`, ['hang'] as ReceiverStep[]]),
      ),
    });
  });
  afterAll(async () => {
    await dispatcher?.stop();
    await receiver?.close();
    await ctx?.close();
  });

  const suspend = async (certificateId: string, key: string) => {
    const res = await api.post(
      `/v1/certificates/${certificateId}/status`,
      { status: 'suspended', reason: 'surveillance audit failed', signatory: { name: '李四' } },
      key,
    );
    expect(res.status, res.text).toBe(200);
  };
  const subscribe = async (key: string, path: string) => {
    const res = await api.post(
      '/v1/subscriptions',
      { url: receiver.url(path), events: ['certificate.status_changed'] },
      key,
    );
    expect(res.status, res.text).toBe(201);
    return res.body.id as string;
  };
  const deliveriesTo = async (subscriptionId: string) =>
    rowsOf<{ id: string; queued: boolean }>(
      await ctx.handle.db.execute(sql`
        SELECT id, queued_at IS NOT NULL AS queued FROM webhook_deliveries
        WHERE subscription_id = ${subscriptionId}::uuid`),
    );

  const startDispatcher = () =>
    // Orphans are ended by the tests' own calls only: the background check, once a minute, could
    // end the test's orphan first (a fresh-clone run saw 0 where 1 was asked for).
    startTestDispatcher(ctx, {
      concurrency: WORKERS,
      sweepIntervalMs: 500,
      orphanCheckIntervalMs: 24 * 3600_000,
    });

  /**
   * A busy issuer with BURST certificates, whose subscription's receiver at `/hang<suffix>` never
   * answers, and a quiet one with one certificate, whose receiver answers at once.
   */
  const pairOfSubscribers = async (suffix: string) => {
    const busy = await createIssuer(ctx, { name: `Busy Body${suffix}` });
    const quiet = await createIssuer(ctx, { name: `Quiet Body${suffix}` });
    const certificates = [];
    for (let i = 0; i < BURST; i++) certificates.push(await issueCertificate(api, busy.key));
    const followed = await issueCertificate(api, quiet.key);
    const hanging = await subscribe(busy.key, `/hang${suffix}`);
    const healthy = await subscribe(quiet.key, `/healthy${suffix}`);
    return { busy, quiet, certificates, followed, hanging, healthy };
  };

  it('sends another subscriber’s delivery ahead of a hanging receiver’s backlog', async () => {
    const { busy, quiet, certificates, followed, hanging, healthy } = await pairOfSubscribers('');

    for (const certificate of certificates) await suspend(certificate.id, busy.key);
    await suspend(followed.id, quiet.key);
    const [healthyDelivery] = await deliveriesTo(healthy);

    // The embedded drain takes due deliveries in turn from each subscription: the healthy one is
    // in the first batch of two, though twelve of the other's are older.
    const firstBatch = await dueDeliveries(ctx.handle.db, new Date(), WORKERS);
    expect(firstBatch).toHaveLength(WORKERS);
    expect(firstBatch).toContain(healthyDelivery!.id);
    // Ended, with what they have not delivered: the next test's dispatcher sends none of it.
    for (const [id, key] of [
      [hanging, busy.key],
      [healthy, quiet.key],
    ] as const)
      expect((await api.delete(`/v1/subscriptions/${id}`, key)).status).toBe(200);
  });

  it('lets the job queue’s workers take it before the rest of the burst', async () => {
    // A fresh pair, with the dispatcher running while the burst arrives, as in production.
    const { busy, quiet, certificates, followed, hanging, healthy } = await pairOfSubscribers('2');
    receiver.received.length = 0;

    dispatcher = await startDispatcher();
    for (const certificate of certificates) await suspend(certificate.id, busy.key);
    // Every delivery of the burst is in the job queue and the workers are on it.
    const deadline = Date.now() + 10_000;
    while (!(await deliveriesTo(hanging)).every((d) => d.queued) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await deliveriesTo(hanging)).every((d) => d.queued)).toBe(true);
    await receiver.waitFor((r) => r.some((w) => w.path === '/hang2'));

    await suspend(followed.id, quiet.key);
    await receiver.waitFor((r) => r.some((w) => w.path === '/healthy2'), 20_000);
    const before = receiver.received.findIndex((w) => w.path === '/healthy2');
    const hangsBefore = receiver.received.slice(0, before).filter((w) => w.path === '/hang2');
    // Taken by age, all twelve would have been tried first (six timeouts on two workers). Now at
    // most the attempts under way, and those the workers took while the healthy one was handed
    // over, go first.
    expect(hangsBefore.length).toBeLessThanOrEqual(2 * WORKERS);
    expect((await deliveriesTo(healthy)).length).toBe(1);
    hangingSubscription = hanging;
  });

  it('ends a delivery whose job ended without its last attempt recorded, and only those', async () => {
    const [orphan, alive] = await deliveriesTo(hangingSubscription);
    const db = ctx.handle.db;
    // Both handed over long ago; the job of one failed without the attempt being written (its
    // worker died during the final attempt), the other's job still waits for its retry.
    await db.execute(sql`
      UPDATE webhook_deliveries SET queued_at = now() - interval '11 minutes'
      WHERE id IN (${orphan!.id}::uuid, ${alive!.id}::uuid)`);
    await db.execute(sql`UPDATE pgboss.job SET state = 'failed' WHERE id = ${orphan!.id}::uuid`);
    expect(await dispatcher!.endOrphans()).toBe(1);
    const states = rowsOf<{ id: string; state: string; last_error: string | null }>(
      await db.execute(sql`
        SELECT id, state, last_error FROM webhook_deliveries
        WHERE id IN (${orphan!.id}::uuid, ${alive!.id}::uuid)`),
    );
    expect(states.find((d) => d.id === orphan!.id)).toMatchObject({
      state: 'failed',
      last_error: expect.stringContaining('without recording its last attempt'),
    });
    expect(states.find((d) => d.id === alive!.id)?.state).toBe('pending');
    expect(await dispatcher!.endOrphans()).toBe(0);
  });
  it('ranks one key’s many subscriptions as one subscriber: they cannot crowd another key out', async () => {
    // A clean queue: the earlier tests' deliveries are ended, and a fresh dispatcher runs.
    await dispatcher!.stop();
    await ctx.handle.db.execute(
      sql`UPDATE webhook_deliveries SET state = 'cancelled' WHERE state = 'pending'`,
    );
    dispatcher = await startDispatcher();
    const busy = await createIssuer(ctx, { name: 'Many Subscriptions Body' });
    const quiet = await createIssuer(ctx, { name: 'Quiet Body 3' });
    const certificate = await issueCertificate(api, busy.key);
    const followed = await issueCertificate(api, quiet.key);
    for (let i = 0; i < MANY; i++) await subscribe(busy.key, `/many${i}`);
    await subscribe(quiet.key, '/healthy3');
    receiver.received.length = 0;

    // One change: a delivery to each of the busy key's subscriptions, then the quiet key's one.
    await suspend(certificate.id, busy.key);
    await receiver.waitFor((r) => r.some((w) => w.path.startsWith('/many')));
    await suspend(followed.id, quiet.key);
    await receiver.waitFor((r) => r.some((w) => w.path === '/healthy3'), 30_000);
    const before = receiver.received.findIndex((w) => w.path === '/healthy3');
    const manyBefore = receiver.received.slice(0, before).filter((w) => w.path.startsWith('/many'));
    // Ranked per subscription, all eight were rank 0 and older: all eight went first.
    expect(manyBefore.length).toBeLessThanOrEqual(2 * WORKERS);
  });
});
