/**
 * Credential verifications per second through HTTP: the service in its own process on PostgreSQL,
 * autocannon at 50 connections from this process, every request one of 200 credentials. Beside it,
 * in the same run, jose's bare `jwtVerify` rate on the same credentials (one thread, no HTTP).
 *
 *   npx tsx bench/credential-verify.ts [seconds=10]
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { benchCertificate, setUpMarkBench } from './mark-bench-setup';
import { cpuSeconds, freePort, start } from './lib/process';

const seconds = Number(process.argv[2] ?? 10);

async function main() {
  const bench = await setUpMarkBench();
  const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmark-bench-keys-'));
  let service: ChildProcess | undefined;
  try {
    const credentials: string[] = [];
    for (let i = 0; i < 200; i++) {
      const cert = await bench.services.certificates.issueCertificate(
        bench.principal,
        benchCertificate(`CRED${String(i).padStart(6, '0')}`),
      );
      credentials.push(cert.credential);
    }

    // Baseline: jose's jwtVerify on the same credentials, one thread, same run.
    const jwks = createLocalJWKSet(await bench.services.issuers.jwks());
    const until = performance.now() + seconds * 1000;
    let bare = 0;
    while (performance.now() < until) {
      await jwtVerify(credentials[bare % credentials.length]!, jwks, { algorithms: ['EdDSA'] });
      bare++;
    }
    const bareRate = bare / seconds;

    const port = await freePort();
    service = await start(
      ['src/main.ts'],
      {
        DATABASE_URL: bench.url,
        PORT: String(port),
        KEYS_DIR: keysDir,
        RATE_LIMIT_PER_MINUTE: '0',
        LOG_LEVEL: 'info',
        ADMIN_API_KEY: 'cm_bench-admin-key-000000000000000000000000000',
        PUBLIC_BASE_URL: 'https://certmark.test',
      },
      (line) => line.includes('certmark listening'),
    );
    const bodies = credentials.map((credential) => JSON.stringify({ credential }));
    let next = 0;
    const cpuBefore = cpuSeconds((pid) => pid === service!.pid);
    const result = await autocannon({
      url: `http://127.0.0.1:${port}`,
      connections: 50,
      duration: seconds,
      requests: [
        {
          method: 'POST',
          path: '/v1/verify/certificate',
          headers: { 'content-type': 'application/json' },
          setupRequest: (request) => ({ ...request, body: bodies[next++ % bodies.length] }),
        },
      ],
    });
    const serverCpu = (cpuSeconds((pid) => pid === service!.pid) - cpuBefore) / seconds;

    console.log(
      `credential verification through HTTP (PostgreSQL, 1 service process, 50 connections, ${seconds}s)`,
    );
    console.log(
      `  requests/s   ${result.requests.average.toFixed(0)}  (2xx ${result['2xx']}, non-2xx ${result.non2xx}, errors ${result.errors})`,
    );
    console.log(`  latency      p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms`);
    console.log(`  service CPU  ${(serverCpu * 100).toFixed(0)}% of one core`);
    console.log(`jose jwtVerify, bare (same credentials, same run, one thread)`);
    console.log(`  verifies/s   ${bareRate.toFixed(0)}`);
    console.log(`ratio HTTP / bare jwtVerify: ${(result.requests.average / bareRate).toFixed(2)}`);
  } finally {
    service?.kill('SIGTERM');
    await bench.drop();
    fs.rmSync(keysDir, { recursive: true, force: true });
  }
}

await main();
