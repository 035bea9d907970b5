/**
 * Customs consumes per second through HTTP with PostgreSQL.
 *
 *   npx tsx bench/customs-consume.ts [--duration 15] [--connections 50]
 *
 * Creates a scratch database on the server of DATABASE_URL (default the local PostgreSQL), starts
 * ONE service process on it (`src/main.ts`, RATE_LIMIT_PER_MINUTE=0), issues a large-quantity CCC
 * exemption, then drives POST /v1/customs/exemptions/consume with autocannon — every request a new
 * declaration number deducting 1 unit — and finally checks the ledger adds up. The database and
 * the process are removed at the end. Run by hand; never part of the test command.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { jsonCaller, waitReady, withServer } from './lib/service-api';

/** The part of autocannon's programmatic API used here (the package ships no types). */
interface AutocannonRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  setupRequest?: (request: AutocannonRequest) => AutocannonRequest;
}
interface Histogram {
  average: number;
  min: number;
  max: number;
  total: number;
  p50: number;
  p90: number;
  p99: number;
}
interface AutocannonResult {
  requests: Histogram;
  latency: Histogram;
  '2xx': number;
  non2xx: number;
  errors: number;
  timeouts: number;
}
const autocannon = createRequire(import.meta.url)('autocannon') as (options: {
  url: string;
  connections: number;
  duration: number;
  requests: AutocannonRequest[];
}) => Promise<AutocannonResult>;

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '15' },
    connections: { type: 'string', default: '50' },
    port: { type: 'string', default: '3917' },
  },
});
const DURATION_S = Number(args.duration);
const CONNECTIONS = Number(args.connections);
const PORT = Number(args.port);
const QUANTITY = 100_000_000;
const HOLDER_USCC = '914403001922038216';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const serverUrl = new URL(
  process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
);
const dbName = `certmark_bench_${randomBytes(4).toString('hex')}`;
const dbUrl = new URL(serverUrl);
dbUrl.pathname = `/${dbName}`;
const base = `http://127.0.0.1:${PORT}`;
const adminKey = `cm_${randomBytes(32).toString('base64url')}`;

const admin = <T>(fn: (c: pg.Client) => Promise<T>) => withServer(serverUrl, fn);

const call = jsonCaller(base);

async function main(): Promise<void> {
  await admin((c) => c.query(`CREATE DATABASE "${dbName}"`));
  const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmark-bench-keys-'));
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/main.ts')], {
    cwd: root,
    env: {
      ...process.env,
      DATABASE_URL: dbUrl.toString(),
      PORT: String(PORT),
      RATE_LIMIT_PER_MINUTE: '0',
      ADMIN_API_KEY: adminKey,
      KEYS_DIR: keysDir,
      LOG_LEVEL: 'silent',
      NODE_ENV: 'development',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    await waitReady(base, child);
    const issuer = await call('POST', '/v1/issuers', adminKey, {
      name: 'Shenzhen Administration for Market Regulation',
      kind: 'exemption_authority',
      schemes: ['CCC_EXEMPTION'],
    });
    const issuerKey = (
      await call('POST', '/v1/api-keys', adminKey, { role: 'issuer', issuerId: issuer.id })
    ).key;
    const customsKey = (await call('POST', '/v1/api-keys', adminKey, { role: 'customs' })).key;
    const exemption = await call('POST', '/v1/certificates', issuerKey, {
      number: 'MZ2026-BENCH-0001',
      scheme: 'CCC_EXEMPTION',
      holder: { name: 'Shenzhen Example Trading Co., Ltd.', uscc: HOLDER_USCC },
      scope: [{ product: 'Laptop computer', models: ['X1-*'] }],
      validFrom: '2024-01-01',
      validUntil: '2099-01-01',
      quantity: QUANTITY,
      purpose: 'repair_parts',
      signatory: { name: '张三' },
    });

    let sequence = 0;
    const result = await autocannon({
      url: base,
      connections: CONNECTIONS,
      duration: DURATION_S,
      requests: [
        {
          method: 'POST',
          path: '/v1/customs/exemptions/consume',
          headers: { authorization: `Bearer ${customsKey}`, 'content-type': 'application/json' },
          // A new 18-digit declaration for every request: each one deducts.
          setupRequest: (request) => ({
            ...request,
            body: JSON.stringify({
              number: exemption.number,
              declarationNo: `53162026${String(++sequence).padStart(10, '0')}`,
              quantity: 1,
              importerUscc: HOLDER_USCC,
              port: 'Shekou',
              model: 'X1-100',
            }),
          }),
        },
      ],
    });

    const ledger = await admin(async () => {
      const c = new pg.Client({ connectionString: dbUrl.toString() });
      await c.connect();
      try {
        const { rows } = await c.query<{ consumed: string; refused: string; remaining: number }>(
          `SELECT
             (SELECT count(*) FROM customs_consumptions WHERE status = 'consumed') AS consumed,
             (SELECT count(*) FROM customs_consumptions WHERE status = 'refused') AS refused,
             (SELECT remaining FROM certificates WHERE id = $1) AS remaining`,
          [exemption.id],
        );
        return rows[0]!;
      } finally {
        await c.end();
      }
    });
    const consumed = Number(ledger.consumed);
    const exact = QUANTITY - ledger.remaining === consumed;
    const cores = os.cpus().length;
    process.stdout.write(
      [
        `customs consume benchmark — ${CONNECTIONS} connections, ${DURATION_S} s, 1 service process, ${cores} cores`,
        `  requests:     ${result.requests.total} (${result['2xx']} 2xx, ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts)`,
        `  throughput:   ${result.requests.average.toFixed(0)} consumes/s average (min ${result.requests.min}, max ${result.requests.max})`,
        `  latency:      p50 ${result.latency.p50} ms, p90 ${result.latency.p90} ms, p99 ${result.latency.p99} ms, max ${result.latency.max} ms`,
        `  ledger:       ${consumed} consumed, ${ledger.refused} refused; remaining ${ledger.remaining} of ${QUANTITY} — ${exact ? 'exact' : 'MISMATCH'}`,
        '',
      ].join('\n'),
    );
    if (!exact) process.exitCode = 1;
  } finally {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await admin((c) => c.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`));
    fs.rmSync(keysDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`benchmark failed: ${(error as Error).stack ?? error}\n`);
  process.exit(1);
});
