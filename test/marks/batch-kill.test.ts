import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/db/client';
import { createTestDatabase } from '../helpers';
import { certificateBody } from '../fixtures';
import { openDatabase, type DatabaseHandle } from '../../src/db/client';

/**
 * A process killed mid-batch (SIGKILL: no shutdown hook runs) leaves a batch that the next start
 * fills to exactly its count; until then none of its marks verifies. The service runs as a real
 * child process (`tsx src/main.ts`) on its own test database.
 */

const COUNT = 500_000;

interface Service {
  child: ChildProcess;
  baseUrl: string;
}

describe('a mark batch survives a killed process', () => {
  let database: { url: string; drop(): Promise<void> };
  let handle: DatabaseHandle;
  let keysDir: string;
  const adminKey = `cm_${randomBytes(32).toString('base64url')}`;
  const children: ChildProcess[] = [];

  async function startService(): Promise<Service> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: process.cwd(),
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: database.url,
        PORT: '0',
        KEYS_DIR: keysDir,
        ADMIN_API_KEY: adminKey,
        PUBLIC_BASE_URL: 'https://certmark.test',
        RATE_LIMIT_PER_MINUTE: '0',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    const stderr: string[] = [];
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`service did not start: ${stderr.join('')}`)),
        20_000,
      );
      child.once('exit', (code) =>
        reject(new Error(`service exited (${code}): ${stderr.join('')}`)),
      );
      readline.createInterface({ input: child.stdout! }).on('line', (line) => {
        try {
          const entry = JSON.parse(line) as { msg?: string; port?: number };
          if (entry.msg === 'certmark listening' && entry.port) {
            clearTimeout(timer);
            resolve(entry.port);
          }
        } catch {
          // not a log line
        }
      });
    });
    return { child, baseUrl: `http://127.0.0.1:${port}` };
  }

  const call = async (
    service: Service,
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
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
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
