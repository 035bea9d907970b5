/**
 * Mark verification under load: `POST /v1/verify/mark` on the service (a child process, scan
 * recording on, rate limit off) against a database holding >= 1,000,000 marks, 50 connections
 * (autocannon), every request a different mark; then the same load against a bare Hono route that
 * only decodes and verifies the signature (the ceiling, bench/mark-verify-ceiling.ts).
 * Targets: >= 3,000 req/s, p99 < 50 ms, >= 60 % of the ceiling.
 *
 *   npx tsx bench/mark-verify.ts [seconds=20] [marks=1000000]
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { sql } from 'drizzle-orm';
import { rowsOf } from '../src/db/client';
import { setUpMarkBench } from './mark-bench-setup';
import { cpuSeconds, freePort, start } from './lib/process';

const seconds = Number(process.argv[2] ?? 20);
const markCount = Number(process.argv[3] ?? 1_000_000);
const CODES = 200_000;
const CONNECTIONS = 50;

async function load(url: string, bodies: string[], duration: number, serverPid?: number) {
  const cpu = () => ({
    server: cpuSeconds((pid) => pid === serverPid),
    postgres: cpuSeconds((_, comm) => comm === 'postgres'),
    self: process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6,
  });
  const before = cpu();
  let next = 0;
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration,
    requests: [
      {
        method: 'POST',
        path: '/v1/verify/mark',
        headers: { 'content-type': 'application/json' },
        setupRequest: (request) => ({ ...request, body: bodies[next++ % bodies.length] }),
      },
    ],
  });
  const after = cpu();
  // Processes that end during the run (idle pool connections) make a negative sum: not known.
  const share = (k: 'server' | 'postgres' | 'self') =>
    after[k] >= before[k] ? `${((100 * (after[k] - before[k])) / duration).toFixed(0)}%` : 'n/a';
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    total: result.requests.total,
    cpu: `CPU of one core: server ${share('server')}, postgres ${share('postgres')}, autocannon ${share('self')}`,
  };
}

async function main() {
  const bench = await setUpMarkBench();
  const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmark-bench-keys-'));
  const children: ChildProcess[] = [];
  try {
    const { services, principal, certificateId } = bench;
    console.log(`issuing ${markCount.toLocaleString('en')} marks…`);
    const batch = await services.marks.issueBatch(principal, certificateId, { count: markCount });
    await services.marks.whenBatchesIdle();
    // The codes of the first CODES marks, from the export stream.
    const reader = (
      await services.marks.exportBatch(principal, batch.batchId, 'ndjson')
    ).getReader();
    const decoder = new TextDecoder();
    const urls: string[] = [];
    let rest = '';
    while (urls.length < CODES) {
      const read = await reader.read();
      if (read.done) break;
      const lines = (rest + decoder.decode(read.value)).split('\n');
      rest = lines.pop()!;
      for (const line of lines) urls.push((JSON.parse(line) as { url: string }).url);
    }
    await reader.cancel();
    await services.marks.close();
    const bodies = urls.map((url) => JSON.stringify({ code: url }));
    const warmupBodies = bodies.splice(0, 20_000);

    const servicePort = await freePort();
    children.push(
      await start(['src/main.ts'], {
        DATABASE_URL: bench.url,
        PORT: String(servicePort),
        KEYS_DIR: keysDir,
        PUBLIC_BASE_URL: 'https://certmark.test',
        RATE_LIMIT_PER_MINUTE: '0',
        LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
        ADMIN_API_KEY: `cm_${'x'.repeat(40)}`,
      }),
    );
    const serviceUrl = `http://127.0.0.1:${servicePort}`;
    for (let i = 0; i < 100; i++) {
      if (
        await fetch(`${serviceUrl}/healthz`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const sample = (await (
      await fetch(`${serviceUrl}/v1/verify/mark`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: warmupBodies.pop()!,
      })
    ).json()) as { verdict: string };
    if (sample.verdict !== 'authentic')
      throw new Error(`the service answered ${JSON.stringify(sample)}`);

    const ceilingPort = await freePort();
    children.push(
      await start(
        ['bench/mark-verify-ceiling.ts'],
        { DATABASE_URL: bench.url, PORT: String(ceilingPort) },
        (line) => line.startsWith('listening'),
      ),
    );
    const ceilingUrl = `http://127.0.0.1:${ceilingPort}`;

    console.log(
      `load: ${CONNECTIONS} connections, ${seconds} s each, every request a different mark`,
    );
    await load(serviceUrl, warmupBodies, 3);
    const service = await load(serviceUrl, bodies, seconds, children[0]!.pid);
    // Every verification is in the scan log (flushed within ~100 ms) and counted on its mark.
    await new Promise((r) => setTimeout(r, 500));
    const [logged] = rowsOf<{ scans: string; counted: string }>(
      await bench.handle.db.execute(
        sql`SELECT (SELECT count(*) FROM mark_scans) AS scans, (SELECT sum(scan_count) FROM marks) AS counted`,
      ),
    );
    await load(ceilingUrl, warmupBodies, 3);
    const ceiling = await load(ceilingUrl, bodies, seconds, children[1]!.pid);

    const row = (name: string, r: Awaited<ReturnType<typeof load>>) =>
      `  ${name.padEnd(34)} ${r.rps.toFixed(0).padStart(6)} req/s   p50 ${String(r.p50).padStart(3)} ms   p99 ${String(r.p99).padStart(3)} ms   (${r.total} requests, ${r.non2xx} non-2xx, ${r.errors} errors)`;
    console.log(row('POST /v1/verify/mark (service)', service));
    console.log(`    ${service.cpu}`);
    console.log(
      `    scan log rows ${logged!.scans}, scans counted on marks ${logged!.counted} (warm-up and check included)`,
    );
    console.log(row('bare decode + verify (ceiling)', ceiling));
    console.log(`    ${ceiling.cpu}`);
    console.log(`  service / ceiling: ${((100 * service.rps) / ceiling.rps).toFixed(0)} %`);
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(
      children.map((child) => new Promise((resolve) => child.once('exit', resolve))),
    );
    await bench.drop();
    fs.rmSync(keysDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
