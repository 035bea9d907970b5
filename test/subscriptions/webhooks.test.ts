import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { rowsOf } from '../../src/db/client';
import { SubscriptionsService } from '../../src/subscriptions/subscriptions.service';
import {
  retryLimitFor,
  retryBackoffSeconds,
  type WebhookDispatcher,
} from '../../src/subscriptions/webhook-dispatcher';
import { client, createTestContext, type Client, type TestContext } from '../helpers';
import {
  createIssuer,
  createRoleKey,
  issueCertificate,
  USCC,
  type IssuerFixture,
} from '../fixtures';
import { startTestDispatcher } from './dispatcher';
import { startReceiver } from './receiver';

/**
 * Subscriptions and webhook deliveries against real PostgreSQL and pg-boss, with a receiver on
 * 127.0.0.1 that fails, hangs past the sender's timeout, and recovers. Signatures are checked with
 * the `standardwebhooks` library, as a receiver would.
 */
describe('webhooks', () => {
  let ctx: TestContext;
  let api: Client;
  let issuer: IssuerFixture;
  let otherIssuer: IssuerFixture;
  let supervisor: string;
  let customs: string;
  let subscriber: string;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let dispatcher: WebhookDispatcher;

  const subscribe = async (key: string, body: Record<string, unknown>) => {
    const res = await api.post('/v1/subscriptions', body, key);
    expect(res.status, res.text).toBe(201);
    return res.body as { id: string; secret: string };
  };
  /** The delivery log once nothing in it is pending (bounded). */
  const deliveriesOnceSettled = async (id: string, key: string) => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const log = await api.get(`/v1/subscriptions/${id}/deliveries`, key);
      const pending = log.body.items?.some((d: { state: string }) => d.state === 'pending');
      if (!pending || Date.now() > deadline) return log;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const startDispatcher = () => startTestDispatcher(ctx, { sweepIntervalMs: 1_000 });

  beforeAll(async () => {
    ctx = await createTestContext({
      WEBHOOK_TIMEOUT_SECONDS: '0.5',
      WEBHOOK_RETRY_DELAY_SECONDS: '1',
    });
    api = client(ctx.app);
    issuer = await createIssuer(ctx);
    otherIssuer = await createIssuer(ctx, { name: 'Other Body' });
    supervisor = await createRoleKey(ctx, 'supervisor');
    customs = await createRoleKey(ctx, 'customs');
    subscriber = await createRoleKey(ctx, 'subscriber');
    receiver = await startReceiver({
      '/flaky': ['fail', 'hang', 'ok'],
      '/down': ['fail'],
    });
    dispatcher = await startDispatcher();
  });
  afterAll(async () => {
    await dispatcher?.stop();
    await receiver?.close();
    await ctx?.close();
  });

  it('refuses URLs that are not https, or (in production) reach private addresses', async () => {
    const refused = await api.post(
      '/v1/subscriptions',
      { url: 'http://example.com/hook', events: ['certificate.status_changed'] },
      issuer.key,
    );
    expect(refused.status).toBe(422);
    expect(refused.body.code).toBe('webhook_url_refused');
    expect(refused.headers.get('content-type')).toContain('application/problem+json');

    const production = new SubscriptionsService(ctx.handle.db, ctx.clock, ctx.keys.kek, true);
    const principal = { keyId: 'x', role: 'supervisor' as const, issuerId: null };
    for (const url of [
      'http://127.0.0.1:8080/hook',
      'https://127.0.0.1/hook',
      'https://10.1.2.3/hook',
      'https://[::1]/hook',
      'https://[::ffff:192.168.0.1]/hook',
      'https://169.254.169.254/latest/meta-data',
      // IPv4-compatible IPv6 (deprecated, ::/96): 127.0.0.1 and 169.254.169.254 again, and an
      // address outside global unicast (2000::/3).
      'https://[::7f00:1]/hook',
      'https://[::a9fe:a9fe]/latest/meta-data',
      'https://[4000::1]/hook',
      'https://localhost/hook',
      'https://user:pw@example.com/hook',
    ]) {
      await expect(
        production.createSubscription(principal, { url, events: ['alert.opened'] }),
        url,
      ).rejects.toMatchObject({ code: 'webhook_url_refused' });
    }
  });

  it('lets each role subscribe only to what it may follow', async () => {
    const cases: [string, string[], number][] = [
      [customs, ['certificate.status_changed'], 403],
      [issuer.key, ['alert.opened'], 403],
      [ctx.adminKey, ['alert.opened'], 403],
      [subscriber, ['certificate.status_changed'], 400], // no filter
      [subscriber, ['mark.flagged'], 403],
      [subscriber, ['alert.opened'], 403],
    ];
    for (const [key, events, status] of cases) {
      const res = await api.post('/v1/subscriptions', { url: receiver.url('/x'), events }, key);
      expect(res.status, `${events.join()} → ${res.text}`).toBe(status);
      expect(res.body.code).toBeTruthy();
    }
    const unknown = await api.post(
      '/v1/subscriptions',
      {
        url: receiver.url('/x'),
        events: ['certificate.status_changed'],
        filter: { certificates: ['NO-SUCH-NUMBER'] },
      },
      subscriber,
    );
    expect(unknown.status).toBe(422);
    expect(unknown.body.errors[0].path).toBe('filter.certificates.0');
    // An issuer's filter cannot name another issuer's certificate.
    const foreign = await issueCertificate(api, otherIssuer.key);
    const notOwn = await api.post(
      '/v1/subscriptions',
      {
        url: receiver.url('/x'),
        events: ['certificate.status_changed'],
        filter: { certificates: [foreign.id] },
      },
      issuer.key,
    );
    expect(notOwn.status).toBe(422);
  });

  it('delivers a status change signed per Standard Webhooks, retrying through a failure and a timeout', async () => {
    const certificate = await issueCertificate(api, issuer.key);
    const flaky = await subscribe(issuer.key, {
      url: receiver.url('/flaky'),
      events: ['certificate.status_changed'],
    });
    const follower = await subscribe(subscriber, {
      url: receiver.url('/follower'),
      events: ['certificate.status_changed', 'issuer.status_changed'],
      filter: { certificates: [certificate.number] },
    });
    const bystander = await subscribe(otherIssuer.key, {
      url: receiver.url('/other-issuer'),
      events: ['certificate.status_changed'],
    });
    expect(flaky.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    // The secret is shown once: listings never carry it.
    const listed = await api.get('/v1/subscriptions', issuer.key);
    expect(listed.body.items.map((s: { id: string }) => s.id)).toContain(flaky.id);
    expect(JSON.stringify(listed.body)).not.toContain('whsec_');
    // A filter by number is shown as given and as the certificate it named.
    const following = (await api.get('/v1/subscriptions', subscriber)).body.items.find(
      (s: { id: string }) => s.id === follower.id,
    );
    expect(following).toMatchObject({
      filter: { certificates: [certificate.number] },
      certificateIds: [certificate.id],
    });

    const change = await api.post(
      `/v1/certificates/${certificate.id}/status`,
      { status: 'suspended', reason: 'annual surveillance failed', signatory: { name: '李四' } },
      issuer.key,
    );
    expect(change.status, change.text).toBe(200);

    await receiver.waitFor((r) => r.some((w) => w.path === '/flaky' && w.answered === 'ok'));
    const flakyCalls = receiver.received.filter((w) => w.path === '/flaky');
    expect(flakyCalls.map((w) => w.answered)).toEqual(['fail', 'hang', 'ok']);
    // One message, one id on every attempt: the receiver's idempotency key.
    expect(new Set(flakyCalls.map((w) => w.headers['webhook-id'])).size).toBe(1);
    const delivered = flakyCalls[2]!;
    const message = new Webhook(flaky.secret).verify(delivered.body, delivered.headers) as any;
    expect(message.type).toBe('certificate.status_changed');
    expect(message.data.certificate).toMatchObject({
      id: certificate.id,
      number: certificate.number,
      status: 'suspended',
      previousStatus: 'valid',
    });
    // Another secret does not verify it.
    expect(() => new Webhook(follower.secret).verify(delivered.body, delivered.headers)).toThrow();

    await receiver.waitFor((r) => r.some((w) => w.path === '/follower'));
    const followed = receiver.received.find((w) => w.path === '/follower')!;
    const publicMessage = new Webhook(follower.secret).verify(
      followed.body,
      followed.headers,
    ) as any;
    expect(Object.keys(publicMessage.data.certificate).sort()).toEqual(
      [
        'id',
        'issuerId',
        'number',
        'previousStatus',
        'scheme',
        'status',
        'statusChangedAt',
        'statusReason',
      ].sort(),
    );
    expect(receiver.received.some((w) => w.path === '/other-issuer')).toBe(false);
    expect(bystander.id).toBeTruthy();

    // The delivery log tells the subscriber what happened, attempt by attempt (the receiver may
    // have its answer a moment before the attempt is recorded).
    const log = await deliveriesOnceSettled(flaky.id, issuer.key);
    expect(log.status).toBe(200);
    const [entry] = log.body.items;
    expect(entry).toMatchObject({
      id: delivered.headers['webhook-id'],
      eventType: 'certificate.status_changed',
      state: 'delivered',
      attempts: 3,
      lastStatus: 204,
    });
    expect(entry.recentAttempts.map((a: { error: string | null }) => a.error)).toEqual([
      null,
      'timeout',
      'http_500',
    ]);
    // Nobody else reads it.
    const foreignLog = await api.get(`/v1/subscriptions/${flaky.id}/deliveries`, otherIssuer.key);
    expect(foreignLog.status).toBe(404);
  });

  it('tells customs of an exemption’s consumption in full, and a follower of it in public facts only', async () => {
    const authority = await createIssuer(ctx, {
      name: 'Exemption Authority',
      kind: 'exemption_authority',
      schemes: ['CCC_EXEMPTION'],
      accreditationNo: undefined,
    });
    const exemption = await issueCertificate(api, authority.key, {
      scheme: 'CCC_EXEMPTION',
      quantity: 20,
      purpose: 'rd_or_test_samples',
    });
    const full = await subscribe(customs, {
      url: receiver.url('/customs-consumed'),
      events: ['exemption.consumed'],
    });
    // A holder, importer or platform follows the exemption it names (SPEC: subscriber).
    const follower = await subscribe(subscriber, {
      url: receiver.url('/follower-consumed'),
      events: ['exemption.consumed', 'exemption.exhausted'],
      filter: { certificates: [exemption.number] },
    });
    const declaration = {
      number: exemption.number,
      declarationNo: '223320260087654321',
      quantity: 20,
      importerUscc: USCC.holder,
      port: '5316 Shenzhen Bay',
      model: 'X1-100',
    };
    const consumed = await api.post('/v1/customs/exemptions/consume', declaration, customs);
    expect(consumed.status, consumed.text).toBe(200);
    expect(consumed.body.consumption).toMatchObject({ consumed: true, remaining: 0 });

    const heard = (path: string, secret: string) =>
      receiver.received
        .filter((w) => w.path === path)
        .map((w) => new Webhook(secret).verify(w.body, w.headers) as any);
    await receiver.waitFor(
      () =>
        heard('/customs-consumed', full.secret).length === 1 &&
        heard('/follower-consumed', follower.secret).length === 2,
    );
    const [toCustoms] = heard('/customs-consumed', full.secret);
    expect(toCustoms.data.consumption).toMatchObject({
      declarationNo: declaration.declarationNo,
      importerUscc: USCC.holder,
      port: declaration.port,
      model: 'X1-100',
      quantity: 20,
    });
    const toFollower = heard('/follower-consumed', follower.secret);
    const publicFacts = toFollower.find((m) => m.type === 'exemption.consumed');
    expect(publicFacts.data).toEqual({
      certificate: {
        id: exemption.id,
        number: exemption.number,
        issuerId: authority.id,
        quantity: 20,
        remaining: 0,
      },
      consumption: { quantity: 20, remaining: 0, at: toCustoms.data.consumption.at },
    });
    expect(toFollower.map((m) => m.type).sort()).toEqual([
      'exemption.consumed',
      'exemption.exhausted',
    ]);
    const told = JSON.stringify(toFollower);
    for (const declared of [declaration.declarationNo, declaration.port, USCC.holder])
      expect(told).not.toContain(declared);
  });

  it('writes deliveries only for changes that commit', async () => {
    const certificate = await issueCertificate(api, issuer.key);
    const sub = await subscribe(supervisor, {
      url: receiver.url('/supervisor'),
      events: ['certificate.status_changed', 'issuer.status_changed', 'alert.opened'],
    });
    const revoke = (status: string) =>
      api.post(
        `/v1/certificates/${certificate.id}/status`,
        { status, reason: 'fraud', signatory: { name: '李四' } },
        issuer.key,
      );
    expect((await revoke('revoked')).status).toBe(200);
    expect((await revoke('valid')).status).toBe(409); // final: rolled back, nothing to tell
    await receiver.waitFor((r) => r.some((w) => w.path === '/supervisor'));
    const log = await deliveriesOnceSettled(sub.id, supervisor);
    expect(log.body.items).toHaveLength(1);
    expect(log.body.items[0].payload.data.certificate.status).toBe('revoked');

    // An issuer's suspension and a consumer's report reach the supervisor too.
    const suspend = await api.post(
      `/v1/issuers/${otherIssuer.id}/status`,
      { status: 'suspended', reason: 'accreditation withdrawn' },
      supervisor,
    );
    expect(suspend.status, suspend.text).toBe(200);
    const report = await api.post('/v1/reports', {
      certificateNumber: certificate.number,
      description: 'label looks printed at home',
    });
    expect(report.status, report.text).toBe(201);
    await receiver.waitFor((r) => r.filter((w) => w.path === '/supervisor').length >= 3);
    const types = receiver.received
      .filter((w) => w.path === '/supervisor')
      .map((w) => JSON.parse(w.body).type);
    expect(types).toEqual(
      expect.arrayContaining([
        'certificate.status_changed',
        'issuer.status_changed',
        'alert.opened',
      ]),
    );
  });

  it('cancels what a deleted subscription has not delivered, and sends nothing more', async () => {
    const certificate = await issueCertificate(api, issuer.key);
    const sub = await subscribe(issuer.key, {
      url: receiver.url('/down'),
      events: ['certificate.status_changed'],
    });
    await api.post(
      `/v1/certificates/${certificate.id}/status`,
      { status: 'suspended', reason: 'r', signatory: { name: '李四' } },
      issuer.key,
    );
    await receiver.waitFor((r) => r.some((w) => w.path === '/down'));
    // The log says when the queue tries again (pg-boss schedules it, not the delivery's row).
    let waiting:
      | { state: string; attempts: number; lastAttemptAt: string; nextAttemptAt: string | null }
      | undefined;
    for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
      waiting = (await api.get(`/v1/subscriptions/${sub.id}/deliveries`, issuer.key)).body.items[0];
      if (waiting?.attempts === 1 && waiting.nextAttemptAt) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(waiting).toMatchObject({ state: 'pending', attempts: 1 });
    expect(Date.parse(waiting!.nextAttemptAt!)).toBeGreaterThan(Date.parse(waiting!.lastAttemptAt));
    const deleted = await api.delete(`/v1/subscriptions/${sub.id}`, issuer.key);
    expect(deleted.status, deleted.text).toBe(200);
    expect(deleted.body.deletedAt).toBeTruthy();
    const log = await api.get(`/v1/subscriptions/${sub.id}/deliveries`, issuer.key);
    expect(log.body.items[0].state).toBe('cancelled');
    expect((await api.delete(`/v1/subscriptions/${sub.id}`, issuer.key)).status).toBe(404);
  });

  it('ends the subscriptions of a revoked key (an issuer’s stay the issuer’s), audited', async () => {
    const newKey = async (body: Record<string, unknown>) => {
      const res = await api.post('/v1/api-keys', body, ctx.adminKey);
      expect(res.status, res.text).toBe(201);
      return res.body as { id: string; key: string };
    };
    const leaver = await newKey({ role: 'supervisor', label: 'leaver' });
    const issuerLeaver = await newKey({ role: 'issuer', issuerId: issuer.id, label: 'old key' });
    const ended = await subscribe(leaver.key, {
      url: receiver.url('/leaver'),
      events: ['alert.opened'],
    });
    const issuers = await subscribe(issuerLeaver.key, {
      url: receiver.url('/issuer-kept'),
      events: ['certificate.status_changed'],
    });
    const still = await subscribe(supervisor, {
      url: receiver.url('/still-subscribed'),
      events: ['alert.opened'],
    });
    for (const key of [leaver, issuerLeaver]) {
      expect((await api.delete(`/v1/api-keys/${key.id}`, ctx.adminKey)).status).toBe(200);
    }

    const certificate = await issueCertificate(api, issuer.key);
    const report = await api.post('/v1/reports', {
      certificateNumber: certificate.number,
      description: 'the label is a photocopy',
    });
    expect(report.status, report.text).toBe(201);
    await receiver.waitFor((r) => r.some((w) => w.path === '/still-subscribed'));
    // The alert's deliveries were written with it, in one transaction: none for the ended one.
    const [written] = rowsOf<{ n: string }>(
      await ctx.handle.db.execute(
        sql`SELECT count(*) AS n FROM webhook_deliveries WHERE subscription_id = ${ended.id}::uuid`,
      ),
    );
    expect(written?.n).toBe('0');
    expect(receiver.received.some((w) => w.path === '/leaver')).toBe(false);
    const mine = await api.get('/v1/subscriptions', issuer.key);
    expect(mine.body.items.map((i: { id: string }) => i.id)).toContain(issuers.id);

    const [row] = rowsOf<{ deleted_at: Date | null }>(
      await ctx.handle.db.execute(
        sql`SELECT deleted_at FROM subscriptions WHERE id = ${ended.id}::uuid`,
      ),
    );
    expect(row?.deleted_at).toBeTruthy();
    const entries = rowsOf<{ action: string; change: unknown }>(
      await ctx.handle.db.execute(
        sql`SELECT action, change FROM audit_log
            WHERE subject_type = 'subscription' AND subject_id = ${ended.id} ORDER BY id`,
      ),
    );
    expect(entries.map((e) => e.action)).toEqual(['subscription.create', 'subscription.delete']);
    expect(entries[1]!.change).toEqual({ endedBy: 'api_key.revoke', apiKeyId: leaver.id });
    const [control] = rowsOf<{ n: string }>(
      await ctx.handle.db.execute(
        sql`SELECT count(*) AS n FROM webhook_deliveries WHERE subscription_id = ${still.id}::uuid`,
      ),
    );
    expect(control?.n).toBe('1');
  });

  it('hears no key revoked before that rule, and ends its subscriptions when revoked again', async () => {
    const made = await api.post('/v1/api-keys', { role: 'supervisor' }, ctx.adminKey);
    const old = made.body as { id: string; key: string };
    const sub = await subscribe(old.key, { url: receiver.url('/old'), events: ['alert.opened'] });
    // Revoked as the service did before it ended subscriptions: the row stays live.
    await ctx.handle.db.execute(
      sql`UPDATE api_keys SET revoked_at = now() WHERE id = ${old.id}::uuid`,
    );
    const certificate = await issueCertificate(api, issuer.key);
    const report = await api.post('/v1/reports', {
      certificateNumber: certificate.number,
      description: 'no hologram',
    });
    expect(report.status, report.text).toBe(201);
    const count = async () =>
      rowsOf<{ n: string }>(
        await ctx.handle.db.execute(
          sql`SELECT count(*) AS n FROM webhook_deliveries WHERE subscription_id = ${sub.id}::uuid`,
        ),
      )[0]!.n;
    expect(await count()).toBe('0');
    const again = await api.delete(`/v1/api-keys/${old.id}`, ctx.adminKey);
    expect(again.status, again.text).toBe(200);
    const [row] = rowsOf<{ deleted_at: Date | null }>(
      await ctx.handle.db.execute(
        sql`SELECT deleted_at FROM subscriptions WHERE id = ${sub.id}::uuid`,
      ),
    );
    expect(row?.deleted_at).toBeTruthy();
  });

  it('keeps what was written while no dispatcher ran, and delivers it after a restart', async () => {
    await dispatcher.stop();
    const certificate = await issueCertificate(api, issuer.key);
    const sub = await subscribe(issuer.key, {
      url: receiver.url('/after-restart'),
      events: ['certificate.status_changed'],
    });
    await api.post(
      `/v1/certificates/${certificate.id}/status`,
      { status: 'withdrawn', reason: 'holder asked', signatory: { name: '李四' } },
      issuer.key,
    );
    const [pending] = rowsOf<{ state: string }>(
      await ctx.handle.db.execute(
        sql`SELECT state FROM webhook_deliveries WHERE subscription_id = ${sub.id}::uuid`,
      ),
    );
    expect(pending?.state).toBe('pending');
    dispatcher = await startDispatcher();
    await receiver.waitFor((r) => r.some((w) => w.path === '/after-restart'));
    const got = receiver.received.find((w) => w.path === '/after-restart')!;
    expect(
      (new Webhook(sub.secret).verify(got.body, got.headers) as any).data.certificate.status,
    ).toBe('withdrawn');
  });

  it('retries with exponential backoff for at least a day', () => {
    for (const delay of [1, 6, 60]) {
      const limit = retryLimitFor(delay);
      let shortest = 0;
      for (let n = 0; n < limit; n++) shortest += retryBackoffSeconds(n, delay, 0);
      expect(shortest).toBeGreaterThanOrEqual(24 * 3600);
      // One retry fewer would not cover the day: the limit is the smallest that does.
      expect(shortest - retryBackoffSeconds(limit - 1, delay, 0)).toBeLessThan(24 * 3600);
    }
    expect(retryBackoffSeconds(3, 6, 0)).toBe(2 * retryBackoffSeconds(2, 6, 0));
  });
});
