/**
 * Credential verification under load, against an honest ceiling. `POST /v1/verify/certificate` on
 * the service (its own process on PostgreSQL, rate limit off), and the same load on a bare Hono
 * route that runs jose's `jwtVerify` and nothing else (bench/credential-verify-ceiling.ts); beside
 * them, `jwtVerify` in a loop with no HTTP at all. The service, the route and the loop are each
 * pinned to core 0, this process (autocannon, 50 connections) to core 1 (taskset); PostgreSQL is
 * not pinned unless BENCH_PIN_POSTGRES=1 (then it shares core 1: see pinPostgresIfAsked). Rounds alternate service, route, loop, so ratios within a round compare runs that
 * saw the same machine. Every request is one of 200 credentials.
 * Target (issue 14): the service at >= 50 % of bare jwtVerify on one core.
 *
 *   [BENCH_PIN_POSTGRES=1] npx tsx bench/credential-verify.ts [seconds=10] [rounds=3]
 */
import { execFile, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import { benchCertificate, setUpMarkBench } from './mark-bench-setup';
import {
  builtService,
  cpuSeconds,
  freePort,
  pinPostgresIfAsked,
  pinSelf,
  start,
} from './lib/process';

const seconds = Number(process.argv[2] ?? 10);
const rounds = Math.max(1, Number(process.argv[3] ?? 3));
const CONNECTIONS = 50;
const SERVER_CPU = 0;
const LOAD_CPU = 1;

async function load(url: string, bodies: string[], duration: number, serverPid: number) {
  let next = 0;
  const cpuBefore = cpuSeconds((pid) => pid === serverPid);
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration,
    requests: [
      {
        method: 'POST',
        path: '/v1/verify/certificate',
        headers: { 'content-type': 'application/json' },
        setupRequest: (request) => ({ ...request, body: bodies[next++ % bodies.length] }),
      },
    ],
  });
  const cpuUsed = cpuSeconds((pid) => pid === serverPid) - cpuBefore;
  const cpu = cpuUsed / duration;
  // The figure a shared machine disturbs least: the server's CPU time per answer.
  const cpuMicrosPerRequest = (cpuUsed * 1e6) / Math.max(1, result.requests.total);
  return {
    rps: result.requests.average,
    cpuMicrosPerRequest,
    line: `${result.requests.average.toFixed(0).padStart(6)} req/s   ${cpuMicrosPerRequest.toFixed(0).padStart(4)} µs CPU/req   p50 ${String(result.latency.p50).padStart(3)} ms   p99 ${String(result.latency.p99).padStart(3)} ms   (2xx ${result['2xx']}, non-2xx ${result.non2xx}, errors ${result.errors}; server CPU ${(cpu * 100).toFixed(0)}% of one core)`,
    p99: result.latency.p99,
  };
}

/** jwtVerify in a loop on core SERVER_CPU, no HTTP: verifies per second. */
async function bareLoop(inputFile: string): Promise<number> {
  const { stdout } = await promisify(execFile)(
    'taskset',
    [
      '-c',
      String(SERVER_CPU),
      process.execPath,
      '--import',
      'tsx',
      'bench/credential-verify-ceiling.ts',
      '--loop',
      String(seconds),
    ],
    { env: { PATH: process.env.PATH, CEILING_INPUT: inputFile } },
  );
  return Number(/verifies\/s (\d+)/.exec(stdout)![1]);
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function main() {
  pinSelf(LOAD_CPU);
  const unpinPostgres = pinPostgresIfAsked(LOAD_CPU);
  process.once('exit', unpinPostgres);
  const bench = await setUpMarkBench();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmark-bench-'));
  // The bench's keys: the service must open the issuers' keys made by the setup.
  const keysDir = bench.keysDir;
  const children: ChildProcess[] = [];
  try {
    const credentials: string[] = [];
    for (let i = 0; i < 200; i++) {
      const cert = await bench.services.certificates.issueCertificate(
        bench.principal,
        benchCertificate(`CRED${String(i).padStart(6, '0')}`),
      );
      credentials.push(cert.credential);
    }
    const inputFile = path.join(workDir, 'ceiling.json');
    fs.writeFileSync(
      inputFile,
      JSON.stringify({ jwks: await bench.services.issuers.jwks(), credentials }),
    );

    const port = await freePort();
    children.push(
      await start(
        [builtService()],
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
        { cpu: SERVER_CPU },
      ),
    );
    const ceilingPort = await freePort();
    children.push(
      await start(
        ['bench/credential-verify-ceiling.ts'],
        { CEILING_INPUT: inputFile, PORT: String(ceilingPort) },
        (line) => line.startsWith('listening'),
        { cpu: SERVER_CPU },
      ),
    );
    const [service, ceiling] = children as [ChildProcess, ChildProcess];
    const serviceUrl = `http://127.0.0.1:${port}`;
    const ceilingUrl = `http://127.0.0.1:${ceilingPort}`;
    const bodies = credentials.map((credential) => JSON.stringify({ credential }));

    console.log(
      `${rounds} rounds of ${seconds} s each (after 2 s warm-up), ${CONNECTIONS} connections; ` +
        `service, bare route and bare loop on core ${SERVER_CPU}, autocannon on core ${LOAD_CPU}, PostgreSQL unpinned`,
    );
    await load(serviceUrl, bodies, 2, service.pid!);
    await load(ceilingUrl, bodies, 2, ceiling.pid!);
    const toRoute: number[] = [];
    const toLoop: number[] = [];
    const cpuToRoute: number[] = [];
    const p99s: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const measured = await load(serviceUrl, bodies, seconds, service.pid!);
      const route = await load(ceilingUrl, bodies, seconds, ceiling.pid!);
      const loop = await bareLoop(inputFile);
      toRoute.push(measured.rps / route.rps);
      toLoop.push(measured.rps / loop);
      cpuToRoute.push(route.cpuMicrosPerRequest / measured.cpuMicrosPerRequest);
      p99s.push(measured.p99);
      console.log(
        `round ${round + 1} (load average ${os
          .loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')})`,
      );
      console.log(`  service          ${measured.line}`);
      console.log(`  bare route       ${route.line}`);
      console.log(
        `  bare loop        ${loop.toFixed(0).padStart(6)} verifies/s (jwtVerify, no HTTP)`,
      );
      console.log(
        `  service / bare route ${(100 * toRoute.at(-1)!).toFixed(0)} %, service / bare loop ${(100 * toLoop.at(-1)!).toFixed(0)} %, bare route CPU/req ÷ service CPU/req ${(100 * cpuToRoute.at(-1)!).toFixed(0)} %`,
      );
    }
    const pct = (values: number[]) =>
      `median ${(100 * median(values)).toFixed(0)} % (rounds ${values.map((v) => `${(100 * v).toFixed(0)} %`).join(', ')})`;
    console.log(`service / bare route: ${pct(toRoute)}`);
    console.log(`bare route CPU/req ÷ service CPU/req: ${pct(cpuToRoute)}`);
    console.log(`service / bare jwtVerify loop: ${pct(toLoop)}; target >= 50 %`);
    console.log(`service p99 ${Math.min(...p99s)}–${Math.max(...p99s)} ms`);
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(
      children.map((child) => new Promise((resolve) => child.once('exit', resolve))),
    );
    await bench.drop();
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

await main();
