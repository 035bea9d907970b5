/**
 * Forgeries against honest work (issue: "a flood of forgeries must not starve honest work").
 *
 *   npx tsx bench/forgery-flood.ts [--seconds 10] [--rounds 2] [--addresses 72] [--limit 120]
 *                                  [--cost-requests 1500] [--server-cpu 0] [--load-cpu 1]
 *
 * One service process (`src/main.ts`, pinned with taskset to --server-cpu) on a scratch database,
 * `TRUST_PROXY=1` and the public limit at --limit a minute; this process (the load generator) pins
 * itself to --load-cpu. PostgreSQL runs where the machine puts it.
 *
 * 1. Cost: --cost-requests genuine mark verifications (each a different mark), then as many forged
 *    ones (a published key's id, a fresh serial, a signature by another key: BAD_SIGNATURE), 8 at
 *    a time, each from its own X-Forwarded-For address (so the limit never answers). The CPU of
 *    the service process and of the PostgreSQL backends of the bench database, per request.
 * 2. Flood: customs consumes (10 connections, a new declaration each) alone, then while forged
 *    marks arrive at the public limit from --addresses addresses (--addresses × --limit / 60 a
 *    second in all, every one answered, none refused), consumes per second each time.
 *
 * Both run in alternating rounds (--rounds): the machine is shared, so one reading proves little.
 * Run by hand; never part of the test command.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { createMarkCode } from '../src/crypto/mark-code';
import { generateSigningKey } from '../src/crypto/ed25519';
import { generateSerial } from '../src/crypto/serial';
import { setUpMarkBench } from './mark-bench-setup';
import { freePort } from './lib/process';
import { waitReady } from './lib/service-api';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    addresses: { type: 'string', default: '72' },
    limit: { type: 'string', default: '120' },
    'cost-requests': { type: 'string', default: '1500' },
    'server-cpu': { type: 'string', default: '0' },
    'load-cpu': { type: 'string', default: '1' },
  },
});
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
const ADDRESSES = Number(args.addresses);
const LIMIT = Number(args.limit);
const COST_REQUESTS = Number(args['cost-requests']);
const HOLDER_USCC = '914403001922038216';

/** utime + stime in clock ticks of one process, or undefined once it has ended. */
function ticksOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds of the service process and of the PostgreSQL backends serving the bench database
 * (found by pg_stat_activity, so other databases' work on the shared server is not counted).
 */
async function cpuSnapshot(
  serverPid: number,
  monitor: pg.Client,
  database: string,
): Promise<Map<number, number>> {
  const { rows } = await monitor.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
    [database],
  );
  const snapshot = new Map<number, number>();
  for (const pid of [serverPid, ...rows.map((r) => r.pid)]) {
    const ticks = ticksOf(pid);
    if (ticks !== undefined) snapshot.set(pid, ticks);
  }
  return snapshot;
}

/** CPU seconds spent between two snapshots (a backend that ended in between is not counted). */
function cpuBetween(before: Map<number, number>, after: Map<number, number>, serverPid: number) {
  let server = 0;
  let postgres = 0;
  for (const [pid, ticks] of after) {
    const spent = (ticks - (before.get(pid) ?? 0)) / 100;
    if (pid === serverPid) server += spent;
    else postgres += spent;
  }
  return { server, postgres };
}

let addressCounter = 0;
/** A fresh client address for each request (10.0.0.0/8), so the limit never applies. */
function freshAddress(): string {
  const n = ++addressCounter;
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

async function main(): Promise<void> {
  spawnSync('taskset', ['-p', '-c', args['load-cpu']!, String(process.pid)], { stdio: 'ignore' });
  const bench = await setUpMarkBench();
  // The bench's keys: the service must open the issuers' keys made by the setup.
  const keysDir = bench.keysDir;
  const databaseName = new URL(bench.url).pathname.slice(1);
  const monitor = new pg.Client({ connectionString: bench.url });
  let child: ChildProcess | undefined;
  try {
    const { services, principal, certificateId } = bench;
    // Genuine marks: enough that no mark is verified 20 times (the clone threshold) in all rounds.
    const markCount = Math.max(2_000, Math.ceil((COST_REQUESTS * (ROUNDS + 1)) / 5));
    const batch = await services.marks.issueBatch(principal, certificateId, { count: markCount });
    const reader = (
      await services.marks.exportBatch(principal, batch.batchId, 'ndjson')
    ).getReader();
    const decoder = new TextDecoder();
    const genuineUrls: string[] = [];
    let rest = '';
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      const lines = (rest + decoder.decode(read.value)).split('\n');
      rest = lines.pop()!;
      for (const line of lines) genuineUrls.push((JSON.parse(line) as { url: string }).url);
    }
    await services.marks.close();
    const adminKey = `cm_${'a'.repeat(43)}`;

    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    child = spawn(
      'taskset',
      ['-c', args['server-cpu']!, process.execPath, '--import', 'tsx', 'src/main.ts'],
      {
        env: {
          PATH: process.env.PATH,
          DATABASE_URL: bench.url,
          PORT: String(port),
          KEYS_DIR: keysDir,
          PUBLIC_BASE_URL: 'https://certmark.test',
          RATE_LIMIT_PER_MINUTE: String(LIMIT),
          TRUST_PROXY: '1',
          LOG_LEVEL: 'warn',
          ADMIN_API_KEY: adminKey,
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    const serverPid = await new Promise<number>((resolve, reject) => {
      // taskset execs the node process in place: the child's pid is the service's.
      child!.once('spawn', () => resolve(child!.pid!));
      child!.once('error', reject);
    });
    await waitReady(base, child!);
    await monitor.connect();

    // The bench issuer's key (the JWKS also lists the platform's transparency-log key).
    const { rows: keyRows } = await monitor.query<{ kid: string }>(
      "SELECT kid FROM signing_keys WHERE status = 'current' LIMIT 1",
    );
    const kid = keyRows[0]!.kid;
    const stranger = generateSigningKey().seed;
    const forgedUrl = () =>
      `https://certmark.test/m/${createMarkCode({ seed: stranger, kid, serial: generateSerial() })}`;

    const call = async (route: string, key: string, body: unknown) => {
      const res = await fetch(`${base}${route}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const json = (await res.json()) as Record<string, any>;
      if (res.status >= 300) throw new Error(`${route}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    const authority = await call('/v1/issuers', adminKey, {
      name: 'Shenzhen Administration for Market Regulation',
      kind: 'exemption_authority',
      schemes: ['CCC_EXEMPTION'],
    });
    const authorityKey = (
      await call('/v1/api-keys', adminKey, { role: 'issuer', issuerId: authority.id })
    ).key as string;
    const customsKey = (await call('/v1/api-keys', adminKey, { role: 'customs' })).key as string;
    const exemption = await call('/v1/certificates', authorityKey, {
      number: 'MZ2026-BENCH-0001',
      scheme: 'CCC_EXEMPTION',
      holder: { name: 'Shenzhen Example Trading Co., Ltd.', uscc: HOLDER_USCC },
      scope: [{ product: 'Laptop computer', models: ['X1-*'] }],
      validFrom: '2024-01-01',
      validUntil: '2099-01-01',
      quantity: 100_000_000,
      purpose: 'repair_parts',
      signatory: { name: '张三' },
    });

    const verify = async (url: string) => {
      const res = await fetch(`${base}/v1/verify/mark`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': freshAddress() },
        body: JSON.stringify({ code: url }),
      });
      return ((await res.json()) as { verdict: string }).verdict;
    };
    const genuineSample = await verify(genuineUrls[0]!);
    const forgedSample = await verify(forgedUrl());
    if (genuineSample !== 'authentic' || forgedSample !== 'forged')
      throw new Error(`samples answered ${genuineSample} and ${forgedSample}`);

    let nextGenuine = 1;
    /** `count` verifications, 8 at a time, each from a fresh address; CPU per request. */
    const costOf = async (kind: 'genuine' | 'forged', count: number) => {
      const bodies = Array.from({ length: count }, () =>
        JSON.stringify({
          code: kind === 'genuine' ? genuineUrls[nextGenuine++ % genuineUrls.length] : forgedUrl(),
        }),
      );
      const before = await cpuSnapshot(serverPid, monitor, databaseName);
      let next = 0;
      const started = performance.now();
      const result = await autocannon({
        url: base,
        connections: 8,
        amount: count,
        requests: [
          {
            method: 'POST',
            path: '/v1/verify/mark',
            setupRequest: (request) => ({
              ...request,
              headers: { 'content-type': 'application/json', 'x-forwarded-for': freshAddress() },
              body: bodies[next++ % bodies.length],
            }),
          },
        ],
      });
      const seconds = (performance.now() - started) / 1000;
      // Whatever the requests left to do (batched scan log, alerts) is theirs too.
      await new Promise((r) => setTimeout(r, 1_000));
      const after = await cpuSnapshot(serverPid, monitor, databaseName);
      const { server, postgres } = cpuBetween(before, after, serverPid);
      const total = result.requests.total;
      if (result.non2xx > 0 || result.errors > 0)
        throw new Error(`${kind}: ${result.non2xx} non-2xx, ${result.errors} errors`);
      return {
        kind,
        total,
        rps: total / seconds,
        serverMs: (1000 * server) / total,
        postgresMs: (1000 * postgres) / total,
      };
    };

    let declaration = 0;
    const consumes = () =>
      autocannon({
        url: base,
        connections: 10,
        duration: SECONDS,
        requests: [
          {
            method: 'POST',
            path: '/v1/customs/exemptions/consume',
            headers: {
              authorization: `Bearer ${customsKey}`,
              'content-type': 'application/json',
            },
            setupRequest: (request) => ({
              ...request,
              body: JSON.stringify({
                number: exemption.number,
                declarationNo: `53162026${String(++declaration).padStart(10, '0')}`,
                quantity: 1,
                importerUscc: HOLDER_USCC,
                port: 'Shekou',
                model: 'X1-100',
              }),
            }),
          },
        ],
      });
    /** Forged marks at the public limit of ADDRESSES addresses, round robin, for SECONDS. */
    const flood = () => {
      let n = 0;
      return autocannon({
        url: base,
        connections: Math.min(ADDRESSES, 50),
        duration: SECONDS,
        overallRate: Math.floor((ADDRESSES * LIMIT) / 60),
        requests: [
          {
            method: 'POST',
            path: '/v1/verify/mark',
            setupRequest: (request) => ({
              ...request,
              headers: {
                'content-type': 'application/json',
                'x-forwarded-for': `172.16.${Math.floor((n % ADDRESSES) / 250)}.${(n++ % ADDRESSES) % 250}`,
              },
              body: JSON.stringify({ code: forgedUrl() }),
            }),
          },
        ],
      });
    };

    console.log(
      `forgery flood — 1 service process on CPU ${args['server-cpu']}, load on CPU ${args['load-cpu']}, ${os.cpus().length} CPUs (shared machine: other work runs too)`,
    );
    console.log(
      `  public limit ${LIMIT}/min per address; flood = ${ADDRESSES} addresses = ${Math.floor((ADDRESSES * LIMIT) / 60)} forged marks/s; ${SECONDS} s per run, ${ROUNDS} alternating rounds`,
    );
    // Warm-up: JIT, pools, key ring, certificate cache.
    await costOf('genuine', 200);
    await costOf('forged', 200);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const kind of ['genuine', 'forged'] as const) {
        const c = await costOf(kind, COST_REQUESTS);
        console.log(
          `  round ${round} cost ${kind.padEnd(7)} ${c.total} requests, ${c.rps.toFixed(0)} req/s at 8 connections; CPU per request: service ${c.serverMs.toFixed(2)} ms + postgres ${c.postgresMs.toFixed(2)} ms = ${(c.serverMs + c.postgresMs).toFixed(2)} ms`,
        );
      }
      const alone = await consumes();
      console.log(
        `  round ${round} customs alone        ${alone.requests.average.toFixed(0)} consumes/s (${alone['2xx']} 2xx, ${alone.non2xx} non-2xx, p99 ${alone.latency.p99} ms)`,
      );
      const [withFlood, forged] = await Promise.all([consumes(), flood()]);
      console.log(
        `  round ${round} customs under flood  ${withFlood.requests.average.toFixed(0)} consumes/s (${withFlood['2xx']} 2xx, ${withFlood.non2xx} non-2xx, p99 ${withFlood.latency.p99} ms) = ${((100 * withFlood.requests.average) / alone.requests.average).toFixed(0)} % of alone; forged marks answered ${forged['2xx']} (${(forged['2xx'] / SECONDS).toFixed(0)}/s), refused ${forged.non2xx}, errors ${forged.errors}`,
      );
    }
    const { rows } = await monitor.query<{ alerts: string; findings: string; audit: string }>(
      `SELECT (SELECT count(*) FROM alerts) AS alerts, (SELECT coalesce(sum(count), 0) FROM alerts) AS findings,
              (SELECT count(*) FROM audit_log WHERE action = 'alert.open') AS audit`,
    );
    console.log(
      `  alerts: ${rows[0]!.alerts} rows standing for ${rows[0]!.findings} findings; ${rows[0]!.audit} alert.open audit entries`,
    );
  } finally {
    await monitor.end().catch(() => {});
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await bench.drop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
