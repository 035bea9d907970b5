import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { createApp, createServices } from '../../src/app';
import { fixedClock } from '../../src/clock';
import { loadConfig } from '../../src/config';
import { openDatabase, rowsOf, type DatabaseHandle } from '../../src/db/client';
import { client, testKeys, TEST_NOW } from '../helpers';
import { certificateBody } from '../fixtures';

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
    await expect(handle.db.execute(sql`UPDATE audit_log SET action = 'x'`)).rejects.toThrow();
    await expect(handle.db.execute(sql`DELETE FROM audit_log`)).rejects.toThrow();
  });
});
