/**
 * Shared by the mark benchmarks: a scratch database on the server of DATABASE_URL (default: the
 * local PostgreSQL), the services over it, an issuer and a certificate to issue marks for.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createServices, type AppDeps, type Services } from '../src/app';
import type { Principal } from '../src/auth/principal';
import { systemActor } from '../src/auth/principal';
import { systemClock } from '../src/clock';
import { loadConfig } from '../src/config';
import { openDatabase, type DatabaseHandle } from '../src/db/client';

export interface MarkBench {
  url: string;
  /** KEYS_DIR holding this setup's KEK and platform seed, for a service process. */
  keysDir: string;
  handle: DatabaseHandle;
  deps: AppDeps;
  services: Services;
  principal: Principal;
  certificateId: string;
  drop(): Promise<void>;
}

/** A valid CCC certificate of the bench's issuer, numbered `number`. */
export function benchCertificate(number: string) {
  return {
    number,
    scheme: 'CCC' as const,
    holder: { name: 'Bench Holder', uscc: '914403001922038216', country: 'CN' },
    factories: [],
    scope: [{ product: 'Laptop', models: ['X1-*'] }],
    standards: ['GB 4943.1-2022'],
    validFrom: '2024-01-01',
    validUntil: '2030-01-01',
    signatory: { name: 'Bench' },
  };
}

export async function setUpMarkBench(env: Record<string, string> = {}): Promise<MarkBench> {
  const server = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  const name = `certmark_bench_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: server.toString() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(server);
  url.pathname = `/${name}`;
  const handle = await openDatabase({ databaseUrl: url.toString(), dataDir: '' });
  const config = loadConfig({
    RATE_LIMIT_PER_MINUTE: '0',
    LOG_LEVEL: 'silent',
    PUBLIC_BASE_URL: 'https://certmark.test',
    ...env,
  });
  const keys = {
    kek: new Uint8Array(randomBytes(32)),
    platformSeed: new Uint8Array(randomBytes(32)),
  };
  // The same keys on disk, for a service process that must sign with the issuers' keys made here
  // (they are wrapped under this KEK): its KEYS_DIR.
  const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmark-bench-keys-'));
  fs.writeFileSync(path.join(keysDir, 'kek'), `${Buffer.from(keys.kek).toString('base64url')}\n`, {
    mode: 0o600,
  });
  fs.writeFileSync(
    path.join(keysDir, 'platform-signing-seed'),
    `${Buffer.from(keys.platformSeed).toString('base64url')}\n`,
    { mode: 0o600 },
  );
  const deps: AppDeps = { db: handle.db, config, keys, clock: systemClock, ping: handle.ping };
  const services = createServices(deps);
  const issuer = await services.issuers.createIssuer(systemActor, {
    name: 'Bench Body',
    kind: 'certification_body',
    schemes: ['CCC'],
  });
  const principal: Principal = {
    keyId: '00000000-0000-4000-8000-000000000000',
    role: 'issuer',
    issuerId: issuer.id,
  };
  const cert = await services.certificates.issueCertificate(
    principal,
    benchCertificate('BENCH000001'),
  );
  return {
    url: url.toString(),
    keysDir,
    handle,
    deps,
    services,
    principal,
    certificateId: cert.id,
    drop: async () => {
      await services.marks.close();
      await handle.close();
      const a = new pg.Client({ connectionString: server.toString() });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
      fs.rmSync(keysDir, { recursive: true, force: true });
    },
  };
}

export const mb = (kilobytes: number) => `${(kilobytes / 1024).toFixed(0)} MB`;
