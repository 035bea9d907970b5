/**
 * Webhook delivery latency and what a crash does to deliveries, with PostgreSQL and pg-boss.
 *
 *   npx tsx bench/webhook-delivery.ts [--changes 200] [--burst 100] [--crash 20]
 *
 * Creates a scratch database on the server of DATABASE_URL (default the local PostgreSQL), starts
 * the service (`src/main.ts`) on it and a webhook receiver in this process (127.0.0.1), which
 * verifies every signature with the `standardwebhooks` package.
 *
 * 1. Latency, one at a time: `--changes` certificate status changes, each sent after the previous
 *    one arrived; latency = from the change's 200 (committed) to the receiver's read of the body.
 * 2. Latency in a burst: `--burst` changes at once (16 in flight), from each 200 to its arrival.
 * 3. Crash: the receiver holds every request open; `--crash` changes are made, their first attempts
 *    are in flight, and the service is killed (SIGKILL). The receiver then answers, the service is
 *    started again, and we count what arrives: every change at least once, how many twice (same
 *    `webhook-id`), and how long after the restart the last one came.
 * The database and the process are removed at the end. Run by hand; never part of the tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Webhook } from 'standardwebhooks';
import { jsonCaller, waitReady, withServer } from './lib/service-api';

const { values: args } = parseArgs({
  options: {
    changes: { type: 'string', default: '200' },
    burst: { type: 'string', default: '100' },
    crash: { type: 'string', default: '20' },
    port: { type: 'string', default: '3931' },
  },
});
const PORT = Number(args.port);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const serverUrl = new URL(
  process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
);
const dbName = `certmark_bench_${randomBytes(4).toString('hex')}`;
const dbUrl = new URL(serverUrl);
dbUrl.pathname = `/${dbName}`;
const base = `http://127.0.0.1:${PORT}`;
const adminKey = `cm_${randomBytes(32).toString('base64url')}`;
const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmark-bench-keys-'));
const HOLDER_USCC = '914403001922038216';

const admin = <T>(fn: (c: pg.Client) => Promise<T>) => withServer(serverUrl, fn);

const call = jsonCaller(base);

function startService(): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/main.ts')], {
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
      WEBHOOK_TIMEOUT_SECONDS: '5',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** The receiver: verifies, records arrival per certificate, answers now or holds the request. */
function receiver(secret: () => string) {
  const arrivals = new Map<string, number[]>(); // certificate id → arrival times
  const ids = new Map<string, number>(); // webhook-id → times received
  const waiters = new Map<string, () => void>();
  let hold = false;
  const held: http.ServerResponse[] = [];
  let badSignatures = 0;
  const heldIds = new Set<string>();
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      const at = performance.now();
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = Object.fromEntries(
        Object.entries(request.headers).map(([k, v]) => [k, String(v)]),
      );
      if (hold) {
        heldIds.add(headers['webhook-id']!);
        held.push(response);
        return;
      }
      let message: any;
      try {
        message = new Webhook(secret()).verify(body, headers);
      } catch {
        badSignatures++;
        response.writeHead(400).end();
        return;
      }
      const certificateId = message.data.certificate.id as string;
      arrivals.set(certificateId, [...(arrivals.get(certificateId) ?? []), at]);
      ids.set(headers['webhook-id']!, (ids.get(headers['webhook-id']!) ?? 0) + 1);
      waiters.get(certificateId)?.();
      response.writeHead(204).end();
    });
  });
  return {
    server,
    arrivals,
    heldIds,
    ids,
    get badSignatures() {
      return badSignatures;
    },
    arrival(certificateId: string): Promise<number> {
      const seen = arrivals.get(certificateId);
      if (seen) return Promise.resolve(seen[0]!);
      return new Promise((resolve) =>
        waiters.set(certificateId, () => resolve(arrivals.get(certificateId)![0]!)),
      );
    },
    setHold(on: boolean) {
      hold = on;
      if (!on) for (const r of held.splice(0)) r.destroy();
    },
    heldCount: () => held.length,
  };
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const describe = (ms: number[]) => {
  const s = [...ms].sort((a, b) => a - b);
  return `p50 ${quantile(s, 0.5).toFixed(1)} ms, p99 ${quantile(s, 0.99).toFixed(1)} ms, max ${s[s.length - 1]!.toFixed(1)} ms (n=${s.length})`;
};

async function main(): Promise<void> {
  await admin((c) => c.query(`CREATE DATABASE "${dbName}"`));
  let secret = '';
  const rx = receiver(() => secret);
  await new Promise<void>((resolve) => rx.server.listen(0, '127.0.0.1', resolve));
  const hook = `http://127.0.0.1:${(rx.server.address() as AddressInfo).port}/hook`;
  let child = startService();
  try {
    await waitReady(base, child, 600);
    const issuer = await call('POST', '/v1/issuers', adminKey, {
      name: 'Bench Certification Centre',
      kind: 'certification_body',
      schemes: ['CCC'],
    });
    const issuerKey = (
      await call('POST', '/v1/api-keys', adminKey, { role: 'issuer', issuerId: issuer.id })
    ).key;
    const subscription = await call('POST', '/v1/subscriptions', issuerKey, {
      url: hook,
      events: ['certificate.status_changed'],
    });
    secret = subscription.secret;
    const total = Number(args.changes) + Number(args.burst) + Number(args.crash);
    const certificates: string[] = [];
    for (let i = 0; i < total; i++) {
      const c = await call('POST', '/v1/certificates', issuerKey, {
        number: `BENCH-WH-${i}`,
        scheme: 'CCC',
        holder: { name: 'Bench Holder Co., Ltd.', uscc: HOLDER_USCC },
        scope: [{ product: 'Laptop computer', models: ['X1-*'] }],
        validFrom: '2024-01-01',
        validUntil: '2099-01-01',
        signatory: { name: '张三' },
      });
      certificates.push(c.id);
    }
    const suspend = (id: string) =>
      call('POST', `/v1/certificates/${id}/status`, issuerKey, {
        status: 'suspended',
        reason: 'bench',
        signatory: { name: '张三' },
      });

    // 1. one at a time
    const sequential: number[] = [];
    for (const id of certificates.slice(0, Number(args.changes))) {
      await suspend(id);
      const committed = performance.now();
      sequential.push((await rx.arrival(id)) - committed);
    }
    console.log(`latency, one change at a time: ${describe(sequential)}`);

    // 2. a burst, 16 changes in flight
    const burstIds = certificates.slice(
      Number(args.changes),
      Number(args.changes) + Number(args.burst),
    );
    const burst: number[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < burstIds.length) {
          const id = burstIds[next++]!;
          await suspend(id);
          const committed = performance.now();
          burst.push((await rx.arrival(id)) - committed);
        }
      }),
    );
    console.log(
      `latency, ${burstIds.length} changes 16 at a time: ${describe(burst)}; all delivered in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );

    // 3. a crash with deliveries in flight
    const crashIds = certificates.slice(total - Number(args.crash));
    rx.setHold(true);
    for (const id of crashIds) await suspend(id);
    for (let i = 0; i < 100 && rx.heldCount() === 0; i++)
      await new Promise((r) => setTimeout(r, 50));
    const inFlight = rx.heldCount();
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const [{ pending }] = await admin(async (c) => {
      await c.query(`SELECT 1`);
      const d = new pg.Client({ connectionString: dbUrl.toString() });
      await d.connect();
      const { rows } = await d.query(
        `SELECT count(*)::int AS pending FROM webhook_deliveries WHERE state = 'pending'`,
      );
      await d.end();
      return rows as [{ pending: number }];
    });
    rx.setHold(false);
    const restarted = performance.now();
    child = startService();
    await waitReady(base, child, 600);
    const ready = performance.now();
    const arrivals = await Promise.all(crashIds.map((id) => rx.arrival(id)));
    const last = Math.max(...arrivals);
    const duplicates = [...rx.ids.values()].filter((n) => n > 1).length;
    const resent = [...rx.heldIds].filter((id) => rx.ids.has(id)).length;
    console.log(
      `crash: ${crashIds.length} changes committed, ${inFlight} first attempts in flight and ${pending} deliveries pending at SIGKILL; ` +
        `after restart (ready in ${((ready - restarted) / 1000).toFixed(1)} s) all ${crashIds.length} arrived, the last ${((last - ready) / 1000).toFixed(1)} s after ready; ` +
        `${resent} of the ${rx.heldIds.size} attempts cut off by the kill were sent again with the same webhook-id; ` +
        `${duplicates} webhook-ids answered twice; ${rx.badSignatures} bad signatures`,
    );
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rx.server.closeAllConnections();
    rx.server.close();
    await admin((c) => c.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`));
    fs.rmSync(keysDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
