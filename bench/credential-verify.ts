/**
 * Credential verifications per second through HTTP (one process, PostgreSQL, autocannon, 50
 * connections), beside jose's bare `jwtVerify` rate on the same credentials in the same run.
 *
 *   npx tsx bench/credential-verify.ts [seconds=10]
 */
import { randomBytes } from 'node:crypto';
import { serve } from '@hono/node-server';
import autocannon from 'autocannon';
import { createLocalJWKSet, jwtVerify } from 'jose';
import pg from 'pg';
import { createApp, createServices } from '../src/app';
import { systemClock } from '../src/clock';
import { loadConfig } from '../src/config';
import { openDatabase } from '../src/db/client';
import type { Principal } from '../src/auth/principal';
import { systemActor } from '../src/auth/principal';

const seconds = Number(process.argv[2] ?? 10);
const serverUrl = new URL(
  process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
);
const dbName = `certmark_bench_${randomBytes(3).toString('hex')}`;

async function main() {
  const admin = new pg.Client({ connectionString: serverUrl.toString() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const url = new URL(serverUrl);
  url.pathname = `/${dbName}`;
  const handle = await openDatabase({ databaseUrl: url.toString(), dataDir: '' });
  try {
    const config = loadConfig({ RATE_LIMIT_PER_MINUTE: '0', LOG_LEVEL: 'silent' });
    const keys = {
      kek: new Uint8Array(randomBytes(32)),
      platformSeed: new Uint8Array(randomBytes(32)),
    };
    const deps = { db: handle.db, config, keys, clock: systemClock };
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
    const credentials: string[] = [];
    for (let i = 0; i < 200; i++) {
      const cert = await services.certificates.issueCertificate(principal, {
        number: `BENCH${String(i).padStart(6, '0')}`,
        scheme: 'CCC',
        holder: { name: 'Bench Holder', uscc: '914403001922038216', country: 'CN' },
        factories: [],
        scope: [{ product: 'Laptop', models: ['X1-*'] }],
        standards: ['GB 4943.1-2022'],
        validFrom: '2024-01-01',
        validUntil: '2030-01-01',
        signatory: { name: 'Bench' },
      });
      credentials.push(cert.credential);
    }

    // Baseline: jose's bare jwtVerify on the same credentials, same process, same run.
    const jwks = createLocalJWKSet(await services.issuers.jwks());
    const until = performance.now() + seconds * 1000;
    let bare = 0;
    while (performance.now() < until) {
      await jwtVerify(credentials[bare % credentials.length]!, jwks, { algorithms: ['EdDSA'] });
      bare++;
    }
    const bareRate = bare / seconds;

    const app = createApp(deps, services);
    const server = serve({ fetch: app.fetch, port: 0 });
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as { port: number }).port;
    const requests = credentials.map((credential) => ({
      method: 'POST' as const,
      path: '/v1/verify/certificate',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ credential }),
    }));
    const result = await autocannon({
      url: `http://127.0.0.1:${port}`,
      connections: 50,
      duration: seconds,
      requests,
    });
    server.close();

    const ok = result['2xx'];
    console.log(
      `credential verification through HTTP (PostgreSQL, 1 process, 50 connections, ${seconds}s)`,
    );
    console.log(
      `  requests/s   ${result.requests.average.toFixed(0)}  (2xx ${ok}, non-2xx ${result.non2xx}, errors ${result.errors})`,
    );
    console.log(`  latency      p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms`);
    console.log(`jose jwtVerify, bare (same credentials, same run)`);
    console.log(`  verifies/s   ${bareRate.toFixed(0)}`);
    console.log(`ratio HTTP / bare jwtVerify: ${(result.requests.average / bareRate).toFixed(2)}`);
  } finally {
    await handle.close();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
  }
}

await main();
