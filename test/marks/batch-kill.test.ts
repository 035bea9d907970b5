import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/db/client';
import { createTestDatabase } from '../helpers';
import { certificateBody } from '../fixtures';
import { openDatabase, type DatabaseHandle } from '../../src/db/client';
import { startServiceProcess, type ServiceProcess } from '../service-process';

/**
 * A process killed mid-batch (SIGKILL: no shutdown hook runs) leaves a batch that the next start
 * fills to exactly its count; until then none of its marks verifies. The service runs as a real
 * child process (`tsx src/main.ts`) on its own test database.
 */

const COUNT = 500_000;

describe('a mark batch survives a killed process', () => {
  let database: { url: string; drop(): Promise<void> };
  let handle: DatabaseHandle;
  let keysDir: string;
  const adminKey = `cm_${randomBytes(32).toString('base64url')}`;
  const services: ServiceProcess[] = [];

  async function startService(): Promise<ServiceProcess> {
    const service = await startServiceProcess({ databaseUrl: database.url, keysDir, adminKey });
    services.push(service);
    return service;
  }

  const call = async (
    service: ServiceProcess,
    method: string,
    url: string,
    key: string | null,
    body?: unknown,
  ) => {
    const res = await fetch(service.baseUrl + url, {
      method,
      headers: {
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  const markCount = async (batchId: string) =>
    Number(
      rowsOf<{ n: string }>(
        await handle.db.execute(
          sql`SELECT count(*) AS n FROM marks WHERE batch_id = ${batchId}::uuid`,
        ),
      )[0]!.n,
    );

  beforeAll(async () => {
    database = await createTestDatabase();
    handle = await openDatabase({ databaseUrl: database.url, dataDir: '', maxConnections: 2 });
    keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmark-keys-'));
  });
  afterAll(async () => {
    for (const service of services) if (!service.exit) service.child.kill('SIGKILL');
    await handle.close();
    await database.drop();
    fs.rmSync(keysDir, { recursive: true, force: true });
  });

  it('resumes the batch after SIGKILL and ends with exactly `count` marks', async () => {
    const first = await startService();
    const issuer = await call(first, 'POST', '/v1/issuers', adminKey, {
      name: 'Kill Test Certification Body',
      kind: 'certification_body',
      schemes: ['CCC'],
    });
    const issuerKey = (
      await call(first, 'POST', '/v1/api-keys', adminKey, {
        role: 'issuer',
        issuerId: issuer.body.id,
      })
    ).body.key;
    const cert = await call(first, 'POST', '/v1/certificates', issuerKey, certificateBody());
    expect(cert.status).toBe(201);
    const accepted = await call(
      first,
      'POST',
      `/v1/certificates/${cert.body.id}/marks`,
      issuerKey,
      { count: COUNT },
    );
    expect(accepted.status).toBe(202);
    const { batchId } = accepted.body;

    // Kill as soon as some marks are written, long before all are.
    let progress = accepted.body;
    while (progress.done === 0) {
      await new Promise((r) => setTimeout(r, 20));
      progress = (await call(first, 'GET', `/v1/mark-batches/${batchId}`, issuerKey)).body;
    }
    first.child.kill('SIGKILL');
    await new Promise((resolve) => first.child.once('exit', resolve));

    const written = await markCount(batchId);
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThan(COUNT);
    const [{ status } = { status: '' }] = rowsOf<{ status: string }>(
      await handle.db.execute(sql`SELECT status FROM mark_batches WHERE id = ${batchId}::uuid`),
    );
    expect(status).toBe('running');
    const [{ serial } = { serial: '' }] = rowsOf<{ serial: string }>(
      await handle.db.execute(
        sql`SELECT lpad(serial::text, 16, '0') AS serial FROM marks WHERE batch_id = ${batchId}::uuid LIMIT 1`,
      ),
    );

    // Restarted: the batch is resumed, and until it is done its marks do not verify.
    const second = await startService();
    const early = await call(second, 'POST', '/v1/verify/mark', null, { code: serial });
    const earlyBatch = (await call(second, 'GET', `/v1/mark-batches/${batchId}`, issuerKey)).body;
    if (earlyBatch.status !== 'done') expect(early.body.reasons[0].code).toBe('NOT_IN_REGISTRY');
    for (let i = 0; i < 400; i++) {
      progress = (await call(second, 'GET', `/v1/mark-batches/${batchId}`, issuerKey)).body;
      if (progress.status === 'done' || progress.status === 'failed') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(progress).toMatchObject({ status: 'done', done: COUNT, count: COUNT });
    expect(await markCount(batchId)).toBe(COUNT);
    const [ordinals] = rowsOf<{ n: string }>(
      await handle.db.execute(
        sql`SELECT count(DISTINCT ordinal) AS n FROM marks WHERE batch_id = ${batchId}::uuid`,
      ),
    );
    expect(Number(ordinals!.n)).toBe(COUNT);
    const verified = await call(second, 'POST', '/v1/verify/mark', null, { code: serial });
    expect(verified.body.verdict).toBe('authentic');
    second.child.kill('SIGTERM');
  }, 60_000);
});
