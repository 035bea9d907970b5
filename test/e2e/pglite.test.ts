import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { sql } from 'drizzle-orm';
import { createApp, createServices } from '../../src/app';
import { fixedClock } from '../../src/clock';
import { loadConfig } from '../../src/config';
import { openDatabase, rowsOf, type DatabaseHandle } from '../../src/db/client';
import { client, testKeys, TEST_NOW } from '../helpers';
import { WebhookDispatcher } from '../../src/subscriptions/webhook-dispatcher';
import { startReceiver } from '../subscriptions/receiver';
import { certificateBody } from '../fixtures';
import { ScanLogPartitions } from '../../src/marks/scan-log-partitions';
import { scanLogPartitions } from '../../src/marks/scan-log.queries';
import { ScanRecorder } from '../../src/verification/scan-recorder';
import { auditEntriesByIndex } from '../../src/audit/audit-log.queries';
import { auditLeafData } from '../../src/audit/audit.queries';
import { leafHash } from '../../src/crypto/merkle';

/** The embedded default: the same migrations and the same flow on PGlite (in memory). */
describe('PGlite smoke', () => {
  let handle: DatabaseHandle;
  beforeAll(async () => {
    handle = await openDatabase({ databaseUrl: undefined, dataDir: 'memory://' });
  });
  afterAll(async () => handle.close());

  it('migrates, issues, verifies, and refuses to rewrite the audit log', async () => {
    const config = loadConfig({ RATE_LIMIT_PER_MINUTE: '0' });
    const deps = {
      db: handle.db,
      config,
      keys: testKeys(),
      clock: fixedClock(TEST_NOW),
      ping: handle.ping,
    };
    const services = createServices(deps);
    const app = createApp(deps, services);
    const admin = 'cm_pglite-smoke-admin-key-0000000000000000000';
    await services.apiKeys.ensureAdminKey(admin);
    const api = client(app);
    const issuer = await api.post(
      '/v1/issuers',
      { name: 'PGlite Body', kind: 'certification_body', schemes: ['CCC'] },
      admin,
    );
    expect(issuer.status).toBe(201);
    const key = await api.post('/v1/api-keys', { role: 'issuer', issuerId: issuer.body.id }, admin);
    const cert = await api.post('/v1/certificates', certificateBody(), key.body.key);
    expect(cert.status, cert.text).toBe(201);
    const answer = await api.post('/v1/verify/certificate', { credential: cert.body.credential });
    expect(answer.body.verdict).toBe('authentic');
    // The offline bundle reads its lists, heads and marks as one array parameter each.
    const bundle = await api.get(`/v1/offline-bundle?issuer=${issuer.body.id}`);
    expect(bundle.status, bundle.text).toBe(200);
    const bundled = JSON.parse(Buffer.from(bundle.text.split('.')[1]!, 'base64url').toString());
    expect(bundled.statusLists).toHaveLength(2);
    // A bulk import runs its job on PGlite too (no pg-boss, no advisory lock needed).
    const rows = [certificateBody(), certificateBody()].map((c) => JSON.stringify(c)).join('\n');
    const upload = () =>
      api.call('POST', '/v1/certificates/imports', {
        key: key.body.key,
        body: rows,
        headers: { 'content-type': 'application/x-ndjson', 'idempotency-key': '"pglite-1"' },
      });
    const imported = await upload();
    expect(imported.status, imported.text).toBe(202);
    await services.certificateImports.whenIdle();
    // Sent again under its Idempotency-Key (the key's lock and digest on PGlite too): the same.
    const again = await upload();
    expect(again.status, again.text).toBe(202);
    expect(again.body.importId).toBe(imported.body.importId);
    const state = await api.get(`/v1/certificates/imports/${imported.body.importId}`, key.body.key);
    expect(state.body).toMatchObject({ status: 'done', imported: 2, failed: 0 });
    const [{ n }] = rowsOf<{ n: number }>(
      await handle.db.execute(sql`SELECT count(*)::int AS n FROM audit_log`),
    ) as [{ n: number }];
    expect(n).toBeGreaterThanOrEqual(6);
    // The sequencer integrates on PGlite too, and the checkpoint signs every entry.
    expect(await services.audit.sync()).toBe(n);
    const checkpoint = await api.get('/log/checkpoint');
    expect(checkpoint.text.split('\n')[1]).toBe(String(n));
    // Each leaf is the one recomputed from its entry as read back (the sequencer reads times as text).
    const entries = await auditEntriesByIndex(handle.db, 0, n);
    expect(entries).toHaveLength(n);
    for (const entry of entries) {
      expect(Buffer.from(leafHash(auditLeafData(entry)))).toEqual(Buffer.from(entry.leafHash));
    }
    await expect(handle.db.execute(sql`UPDATE audit_log SET action = 'x'`)).rejects.toThrow();
    await expect(handle.db.execute(sql`DELETE FROM audit_log`)).rejects.toThrow();
  });

  it('partitions the scan log by month and drops months past retention', async () => {
    const recorder = new ScanRecorder(handle.db);
    recorder.record({
      serial: '1234567890123456',
      at: new Date('2024-05-05T00:00:00Z'),
      region: null,
      lat: null,
      lon: null,
      callerRole: null,
      channel: 'api',
      verdict: 'forged',
      reasons: ['NOT_IN_REGISTRY'],
      counted: true,
    });
    await recorder.flush();
    expect(recorder.dropped).toBe(0);
    expect((await scanLogPartitions(handle.db)).map((p) => p.name)).toContain('mark_scans_2024_05');
    const partitions = new ScanLogPartitions({
      db: handle.db,
      clock: fixedClock('2024-07-20T00:00:00Z'),
      retentionDays: 30,
    });
    expect(await partitions.maintain()).toEqual(['mark_scans_2024_05']);
    const [left] = rowsOf<{ n: number | string }>(
      await handle.db.execute(sql`SELECT count(*) AS n FROM mark_scans`),
    );
    expect(Number(left!.n)).toBe(0);
  });

  it('delivers webhooks with the in-process drain (no pg-boss), retrying after a failure', async () => {
    const config = loadConfig({ RATE_LIMIT_PER_MINUTE: '0', WEBHOOK_RETRY_DELAY_SECONDS: '1' });
    const keys = testKeys();
    const deps = { db: handle.db, config, keys, clock: fixedClock(TEST_NOW), ping: handle.ping };
    const services = createServices(deps);
    const app = createApp(deps, services);
    const admin = 'cm_pglite-webhooks-admin-key-0000000000000000';
    await services.apiKeys.ensureAdminKey(admin);
    const api = client(app);
    const receiver = await startReceiver({ '/hook': ['fail', 'ok'] });
    onTestFinished(() => receiver.close());
    const issuer = await api.post(
      '/v1/issuers',
      { name: 'PGlite Webhook Body', kind: 'certification_body', schemes: ['CCC'] },
      admin,
    );
    const key = (
      await api.post('/v1/api-keys', { role: 'issuer', issuerId: issuer.body.id }, admin)
    ).body.key;
    const cert = await api.post('/v1/certificates', certificateBody(), key);
    const sub = await api.post(
      '/v1/subscriptions',
      { url: receiver.url('/hook'), events: ['certificate.status_changed'] },
      key,
    );
    expect(sub.status, sub.text).toBe(201);
    const dispatcher = new WebhookDispatcher({
      db: handle.db,
      kind: 'pglite',
      kek: keys.kek,
      production: false,
      timeoutMs: 2_000,
      retryDelaySeconds: 1,
      sweepIntervalMs: 200,
    });
    await dispatcher.start();
    onTestFinished(() => dispatcher.stop());
    const change = await api.post(
      `/v1/certificates/${cert.body.id}/status`,
      { status: 'suspended', reason: 'surveillance', signatory: { name: '李四' } },
      key,
    );
    expect(change.status).toBe(200);
    await receiver.waitFor((r) => r.some((w) => w.answered === 'ok'));
    const [failed, ok] = receiver.received;
    expect(failed!.headers['webhook-id']).toBe(ok!.headers['webhook-id']);
    const message = new Webhook(sub.body.secret).verify(ok!.body, ok!.headers) as any;
    expect(message.data.certificate.status).toBe('suspended');
    let log;
    for (let i = 0; i < 50; i++) {
      log = await api.get(`/v1/subscriptions/${sub.body.id}/deliveries`, key);
      if (log.body.items[0].state !== 'pending') break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(log!.body.items[0]).toMatchObject({ state: 'delivered', attempts: 2 });
    expect(log!.body.items[0].recentAttempts.map((a: { error: string | null }) => a.error)).toEqual(
      [null, 'http_500'],
    );
  });
});
