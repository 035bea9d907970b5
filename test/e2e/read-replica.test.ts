import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'drizzle-orm';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, createServices } from '../../src/app';
import { fixedClock } from '../../src/clock';
import { loadConfig } from '../../src/config';
import { openDatabase, openReadReplica, type DatabaseHandle } from '../../src/db/client';
import { ReadRouter } from '../../src/db/read-replica';
import type { Principal } from '../../src/auth/principal';
import { client, freePort, testKeys, TEST_NOW, type Client, type TestContext } from '../helpers';
import { createIssuer, issueCertificate, type IssuerFixture } from '../fixtures';
import { issueMarks, type IssuedMark } from '../marks/mark-helpers';

/**
 * DATABASE_READ_URL against a real streaming replica made on this machine: a primary of our own
 * (initdb in a temporary folder: the shared server allows no replication connections, and a base
 * backup of it would copy every database on it), a replica of it by pg_basebackup, each a
 * `postgres` on a port of its own. Public reads go to the replica while it is within the bound,
 * to the primary when it falls behind or goes down; writes, scan counting and a caller's own
 * reads stay on the primary.
 */
const run = promisify(execFile);
const binDir = ['17', '16', '15', '14', '13']
  .map((v) => `/usr/lib/postgresql/${v}/bin`)
  .find((dir) =>
    ['initdb', 'pg_ctl', 'pg_basebackup', 'postgres'].every((b) =>
      fs.existsSync(path.join(dir, b)),
    ),
  );
const asRoot = process.getuid?.() === 0;

if (!binDir) {
  console.warn(
    'read-replica test skipped: no PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) under /usr/lib/postgresql/*/bin',
  );
}

/** Runs a PostgreSQL binary, as the postgres user when we are root (the server refuses root). */
async function pg(binary: string, args: string[]): Promise<void> {
  const command = path.join(binDir!, binary);
  if (asRoot) await run('runuser', ['-u', 'postgres', '--', command, ...args]);
  else await run(command, args);
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!binDir)('public reads on a streaming replica', () => {
  const MAX_STALENESS_MS = 4_000;
  /** Added to the router's clock: lets a test move past the bound without waiting it out. */
  let skewMs = 0;
  let dir: string;
  let ports: { primary: number; replica: number };
  let primary: DatabaseHandle;
  let replica: Awaited<ReturnType<typeof openReadReplica>>;
  let reads: ReadRouter;
  let ctx: TestContext;
  let api: Client;
  let issuer: IssuerFixture;
  let certificateId: string;
  let marks: IssuedMark[];
  let primaryStarted = false;
  let replicaStarted = false;

  const urlOf = (port: number) => `postgres://postgres@127.0.0.1:${port}/certmark`;
  const serverArgs = (port: number) =>
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=16MB -c max_connections=40`;
  const replay = (action: 'pause' | 'resume') =>
    replica.db.execute(sql.raw(`SELECT pg_wal_replay_${action}()`));
  /** Probes until the router finds the replica in `state`. */
  const probedUntil = (state: 'fresh' | 'down') =>
    until(async () => {
      await reads.probe();
      return reads.status().replica === state;
    });
  const anonymousStatus = async () =>
    (await api.get(`/v1/certificates/${certificateId}`)).body.status as string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmark-replica-'));
    if (asRoot) {
      const { stdout } = await run('id', ['-u', 'postgres']);
      const { stdout: gid } = await run('id', ['-g', 'postgres']);
      fs.chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
    }
    ports = { primary: await freePort(), replica: await freePort() };
    await pg('initdb', ['-D', `${dir}/primary`, '-U', 'postgres', '-A', 'trust', '--no-sync']);
    await pg('pg_ctl', [
      '-D',
      `${dir}/primary`,
      '-l',
      `${dir}/primary.log`,
      '-o',
      serverArgs(ports.primary),
      '-w',
      'start',
    ]);
    primaryStarted = true;
    const { default: pgClient } = await import('pg');
    const admin = new pgClient.Client({
      connectionString: `postgres://postgres@127.0.0.1:${ports.primary}/postgres`,
    });
    await admin.connect();
    await admin.query('CREATE DATABASE certmark');
    await admin.end();
    primary = await openDatabase({ databaseUrl: urlOf(ports.primary), dataDir: '' });

    await pg('pg_basebackup', [
      '-h',
      '127.0.0.1',
      '-p',
      String(ports.primary),
      '-U',
      'postgres',
      '-D',
      `${dir}/replica`,
      '-R',
      '-X',
      'stream',
      '-c',
      'fast',
      '--no-sync',
    ]);
    await pg('pg_ctl', [
      '-D',
      `${dir}/replica`,
      '-l',
      `${dir}/replica.log`,
      '-o',
      serverArgs(ports.replica),
      '-w',
      'start',
    ]);
    replicaStarted = true;
    replica = await openReadReplica({ databaseUrl: urlOf(ports.replica), maxConnections: 4 });
    reads = new ReadRouter({
      primary: primary.db,
      replica: replica.db,
      maxStalenessMs: MAX_STALENESS_MS,
      probeEveryMs: 100,
      now: () => performance.now() + skewMs,
    });
    await reads.start();

    const config = loadConfig({
      RATE_LIMIT_PER_MINUTE: '0',
      PUBLIC_BASE_URL: 'https://certmark.test',
    });
    const deps = {
      db: primary.db,
      config,
      keys: testKeys(),
      clock: fixedClock(TEST_NOW),
      ping: primary.ping,
      reads,
    };
    const services = createServices(deps);
    const adminKey = `cm_${randomBytes(32).toString('base64url')}`;
    await services.apiKeys.ensureAdminKey(adminKey);
    ctx = {
      app: createApp(deps, services),
      services,
      handle: primary,
      databaseUrl: urlOf(ports.primary),
      clock: deps.clock,
      config,
      keys: deps.keys,
      adminKey,
      close: async () => {},
    };
    api = client(ctx.app);
    issuer = await createIssuer(ctx);
    certificateId = (await issueCertificate(api, issuer.key)).id;
    ({ marks } = await issueMarks(api, issuer.key, certificateId, { count: 2 }));
  }, 120_000);

  afterAll(async () => {
    await ctx?.services.marks.close();
    await ctx?.services.markVerification.close();
    await reads?.close();
    await replica?.close();
    await primary?.close();
    if (replicaStarted)
      await pg('pg_ctl', ['-D', `${dir}/replica`, '-m', 'immediate', 'stop']).catch(() => {});
    if (primaryStarted)
      await pg('pg_ctl', ['-D', `${dir}/primary`, '-m', 'immediate', 'stop']).catch(() => {});
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('answers public reads from the replica as the primary would', async () => {
    await probedUntil('fresh');
    expect(reads.databaseFor('bounded')).toBe(replica.db);
    expect(reads.databaseFor('fresh')).toBe(primary.db);

    const anonymous = await api.get(`/v1/certificates/${certificateId}`);
    const own = await api.get(`/v1/certificates/${certificateId}`, issuer.key);
    expect(anonymous.status).toBe(200);
    expect(anonymous.body).toEqual(own.body);
    const search = await api.get(`/v1/registry/certificates?number=${own.body.number}`);
    expect(search.body.total).toBe(1);
    expect(search.body.items[0].id).toBe(certificateId);
    const jwks = await api.get('/.well-known/jwks.json');
    expect(jwks.body.keys.map((k: { kid: string }) => k.kid)).toContain(issuer.kid);
    const history = await api.get(`/v1/certificates/${certificateId}/status-history`);
    expect(history.status).toBe(200);
    const { credentialStatus } = decodeJwt(own.body.credential) as {
      credentialStatus: { statusListCredential: string }[];
    };
    const list = await api.get(new URL(credentialStatus[0]!.statusListCredential).pathname);
    expect(list.status).toBe(200);
    expect(list.text.split('.')).toHaveLength(3);
  });

  it('serves bounded reads within the bound, then the primary once the replica falls behind', async () => {
    await replay('pause');
    try {
      // A change made elsewhere (another instance: here the service, not through this app).
      const principal: Principal = {
        keyId: '00000000-0000-4000-8000-000000000000',
        role: 'issuer',
        issuerId: issuer.id,
      };
      const changed = await ctx.services.certificates.changeStatus(
        principal as never,
        certificateId,
        {
          status: 'suspended',
          reason: 'annual surveillance overdue',
          signatory: { name: 'Li' },
        },
      );
      expect(changed.status).toBe('suspended');
      // The author reads what it wrote (the primary), at once.
      expect((await api.get(`/v1/certificates/${certificateId}`, issuer.key)).body.status).toBe(
        'suspended',
      );
      // The public may see the replica's state while it is within the bound: the replica has not
      // replayed the change, so this answer came from it, not from the primary.
      expect(reads.status().replica).toBe('fresh');
      expect(await anonymousStatus()).toBe('valid');
      // Past the bound (the router's clock moved on) with replay still paused: the primary.
      skewMs += MAX_STALENESS_MS;
      await reads.probe();
      expect(reads.status().replica).toBe('behind');
      expect(reads.databaseFor('bounded')).toBe(primary.db);
      expect(await anonymousStatus()).toBe('suspended');
    } finally {
      await replay('resume');
    }
    await probedUntil('fresh');
    expect(reads.databaseFor('bounded')).toBe(replica.db);
    expect(await anonymousStatus()).toBe('suspended');
  });

  it('reads the primary right after a change this instance answered, until the replica has it', async () => {
    const certificate = await issueCertificate(api, issuer.key);
    const statusOf = async () =>
      (await api.get(`/v1/certificates/${certificate.id}`)).body.status as string;
    await probedUntil('fresh');
    await replay('pause');
    try {
      const changed = await api.post(
        `/v1/certificates/${certificate.id}/status`,
        { status: 'revoked', reason: 'certificate bought, not earned', signatory: { name: 'Li' } },
        issuer.key,
      );
      expect(changed.status, changed.text).toBe(200);
      // Anyone told of it reads it at once, from the primary: the replica has not replayed it.
      expect(await statusOf()).toBe('revoked');
      const search = await api.get(`/v1/registry/certificates?number=${certificate.number}`);
      expect(search.body.items[0].status).toBe('revoked');
      expect(reads.status().replica).toBe('behind');
      expect((await api.get('/readyz')).body.reads).toMatchObject({
        replica: 'behind',
        maxStalenessMs: MAX_STALENESS_MS,
      });
    } finally {
      await replay('resume');
    }
    // Once a probe finds the change replayed, the replica takes public reads again.
    await probedUntil('fresh');
    expect(reads.databaseFor('bounded')).toBe(replica.db);
    expect(await statusOf()).toBe('revoked');
    expect((await api.get('/readyz')).body.reads.replica).toBe('fresh');
    // Checks and reports change nothing public reads show: they leave them on the replica.
    expect((await api.post('/v1/verify/mark', { code: marks[1]!.code })).status).toBe(200);
    expect((await api.post('/v1/verify/certificate', { number: certificate.number })).status).toBe(
      200,
    );
    expect(
      (await api.post('/v1/reports', { certificateNumber: certificate.number, description: 'odd' }))
        .status,
    ).toBe(201);
    expect(reads.status().replica).toBe('fresh');
    expect(reads.databaseFor('bounded')).toBe(replica.db);
  });

  it('counts scans on the primary whatever the replica does', async () => {
    await replay('pause');
    try {
      const first = await api.post('/v1/verify/mark', { code: marks[0]!.code });
      const second = await api.post('/v1/verify/mark', { code: marks[0]!.code });
      expect(first.status).toBe(200);
      expect(first.body.mark.scanCount).toBe(1);
      expect(second.body.mark.scanCount).toBe(2);
    } finally {
      await replay('resume');
    }
  });

  it('falls back to the primary when the replica goes down', async () => {
    await probedUntil('fresh');
    await pg('pg_ctl', ['-D', `${dir}/replica`, '-m', 'fast', 'stop']);
    replicaStarted = false;
    // The first read may still be sent to the replica: it fails there and is answered from the
    // primary; from then on the replica takes no reads.
    const anonymous = await api.get(`/v1/certificates/${certificateId}`);
    expect(anonymous.status).toBe(200);
    expect(anonymous.body.status).toBe('suspended');
    await probedUntil('down');
    expect(reads.databaseFor('bounded')).toBe(primary.db);
    const search = await api.get(`/v1/registry/certificates?number=${anonymous.body.number}`);
    expect(search.status).toBe(200);
    expect(search.body.total).toBe(1);
    expect((await api.get('/.well-known/jwks.json')).status).toBe(200);
  });
});
