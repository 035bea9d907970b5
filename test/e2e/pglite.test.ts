import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { createApp, createServices } from '../../src/app';
import { fixedClock } from '../../src/clock';
import { loadConfig } from '../../src/config';
import { openDatabase, rowsOf, type DatabaseHandle } from '../../src/db/client';
import { client, testKeys, TEST_NOW } from '../helpers';
import { certificateBody } from '../fixtures';
import { ScanLogPartitions } from '../../src/marks/scan-log-partitions';
import { scanLogPartitions } from '../../src/marks/scan-log.queries';
import { ScanRecorder } from '../../src/verification/scan-recorder';

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
    const [{ n }] = rowsOf<{ n: number }>(
      await handle.db.execute(sql`SELECT count(*)::int AS n FROM audit_log`),
    ) as [{ n: number }];
    expect(n).toBeGreaterThanOrEqual(3);
    // The sequencer integrates on PGlite too, and the checkpoint signs every entry.
    expect(await services.audit.sync()).toBe(n);
    const checkpoint = await api.get('/log/checkpoint');
    expect(checkpoint.text.split('\n')[1]).toBe(String(n));
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
});
