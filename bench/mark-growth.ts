/**
 * How mark verification, issuance and storage grow with the number of marks. Issues marks in
 * batches of up to 1,000,000 until each size is reached, then prints at that size: the issuance
 * rate of that step; bytes on disk per issued mark, before that size's scans (in brackets: without
 * the rows that earlier sizes' scans left, i.e. what a mark never scanned costs): every table that
 * holds marks (`marks` — the rows of marks scanned or voided so far —, `mark_batches`,
 * `mark_batch_numbers_taken`, and `status_lists`, whose bits say which marks are void), heap,
 * TOAST and indexes after VACUUM, divided by the marks issued; and `POST /v1/verify/mark`
 * throughput and p99 (service pinned to core 0, autocannon on core 1, 50 connections, scan
 * recording on) over marks drawn at random from all batches, each request a different mark never
 * scanned before; a second pass over the same marks scans each again (their second scan, as repeat
 * scans do). The rows scanned marks leave are printed too (their count and bytes each).
 * Targets (issue 14): throughput and p99 within 15 % from the smallest to the largest size; <= 40
 * bytes per never-scanned mark; issuance no slower than before.
 *
 *   npx tsx bench/mark-growth.ts [sizes=1000000,10000000,100000000] [seconds=10]
 */
import type { ChildProcess } from 'node:child_process';
import autocannon from 'autocannon';
import { sql } from 'drizzle-orm';
import { createMarkCode } from '../src/crypto/mark-code';
import { deriveMarkSerialKey, MarkSerialCipher } from '../src/crypto/mark-serial-cipher';
import { rowsOf } from '../src/db/client';
import { setUpMarkBench } from './mark-bench-setup';
import { builtService, freePort, pinSelf, start } from './lib/process';
import { waitReady } from './lib/service-api';

const sizes = (process.argv[2] ?? '1000000,10000000,100000000').split(',').map(Number);
const seconds = Number(process.argv[3] ?? 10);
const CONNECTIONS = 50;
const BATCH_MAX = 1_000_000;
/** Codes drawn per size: more than a pass can verify in `seconds` here. */
const SAMPLE = 12_000 * seconds;

async function load(url: string, bodies: string[]) {
  let next = 0;
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        path: '/v1/verify/mark',
        headers: { 'content-type': 'application/json' },
        setupRequest: (request) => ({ ...request, body: bodies[next++ % bodies.length] }),
      },
    ],
  });
  return {
    rps: result.requests.average,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx,
    repeated: Math.max(0, next - bodies.length),
  };
}

async function main() {
  pinSelf(1);
  const bench = await setUpMarkBench();
  // The bench's keys: the service must open the issuers' keys made by the setup.
  const keysDir = bench.keysDir;
  let service: ChildProcess | undefined;
  const db = bench.handle.db;
  try {
    const { services, principal, certificateId } = bench;
    const signer = await services.vault.currentSigner(db, principal.issuerId!);
    const cipher = new MarkSerialCipher(deriveMarkSerialKey(bench.deps.keys.kek));
    /** Serials scanned at a smaller size: never drawn again. */
    const scanned = new Set<string>();
    let issued = 0;
    console.log(
      `sizes ${sizes.map((s) => s.toLocaleString('en')).join(', ')}; ${seconds} s per pass, ${CONNECTIONS} connections, service on core 0, autocannon on core 1, PostgreSQL unpinned`,
    );
    console.log(
      'marks        issue marks/s   bytes/mark (never scanned)   verify req/s  p99   2nd scan req/s  p99   scanned rows  bytes/row',
    );
    for (const size of sizes) {
      const started = performance.now();
      const from = issued;
      while (issued < size) {
        const count = Math.min(BATCH_MAX, size - issued);
        await services.marks.issueBatch(principal, certificateId, { count });
        issued += count;
      }
      const issueRate = (issued - from) / ((performance.now() - started) / 1000);
      const footprint = async () => {
        for (const table of ['marks', 'mark_batches', 'mark_batch_numbers_taken', 'status_lists'])
          await db.execute(sql.raw(`VACUUM (ANALYZE) ${table}`));
        const [row] = rowsOf<{ all: string; marks: string; rows: string }>(
          await db.execute(sql`SELECT
            pg_total_relation_size('marks') + pg_total_relation_size('mark_batches')
              + pg_total_relation_size('mark_batch_numbers_taken')
              + pg_total_relation_size('status_lists') AS "all",
            pg_total_relation_size('marks') AS "marks",
            (SELECT count(*) FROM marks) AS "rows"`),
        );
        return { all: Number(row!.all), marks: Number(row!.marks), rows: Number(row!.rows) };
      };
      const before = await footprint();

      // Marks drawn at random over all batches, never one scanned at a smaller size.
      const numbered = rowsOf<{ number: string; count: number }>(
        await db.execute(sql`SELECT number, count FROM mark_batches WHERE number IS NOT NULL`),
      ).map((b) => ({ number: Number(b.number), count: b.count }));
      const serials: string[] = [];
      const drawn = new Set<string>();
      while (serials.length < SAMPLE) {
        const batch = numbered[Math.floor(Math.random() * numbered.length)]!;
        const serial = cipher.serialAt(batch.number, Math.floor(Math.random() * batch.count));
        if (scanned.has(serial) || drawn.has(serial)) continue;
        drawn.add(serial);
        serials.push(serial);
      }
      const bodies = serials.map((serial) =>
        JSON.stringify({ code: createMarkCode({ seed: signer.seed, kid: signer.kid, serial }) }),
      );

      if (!service) {
        await services.marks.close();
        const port = await freePort();
        service = await start(
          [builtService()],
          {
            DATABASE_URL: bench.url,
            PORT: String(port),
            KEYS_DIR: keysDir,
            PUBLIC_BASE_URL: 'https://certmark.test',
            RATE_LIMIT_PER_MINUTE: '0',
            LOG_LEVEL: 'warn',
            ADMIN_API_KEY: `cm_${'x'.repeat(40)}`,
          },
          undefined,
          { cpu: 0 },
        );
        const url = `http://127.0.0.1:${port}`;
        await waitReady(url, service, 200);
        (service as ChildProcess & { url?: string }).url = url;
        // Warm-up on marks no pass uses.
        await load(url, bodies.splice(0, 20_000));
      }
      const url = (service as ChildProcess & { url?: string }).url!;
      const first = await load(url, bodies);
      const second = await load(url, bodies);
      for (const serial of serials) scanned.add(serial);
      const after = await footprint();
      const perMark = before.all / issued;
      // What an issued mark costs before any scan: every table but the rows of scanned marks.
      const perUnscanned = (before.all - before.marks) / issued;
      const perRow = after.rows > 0 ? after.marks / after.rows : 0;
      console.log(
        `${issued.toLocaleString('en').padStart(11)}  ${Math.round(issueRate).toLocaleString('en').padStart(13)}   ` +
          `${perMark.toFixed(2).padStart(10)} (${perUnscanned.toFixed(3)})`.padEnd(29) +
          `${first.rps.toFixed(0).padStart(15)}  ${String(first.p99).padStart(3)}   ${second.rps.toFixed(0).padStart(14)}  ${String(second.p99).padStart(3)}` +
          `${after.rows.toLocaleString('en').padStart(15)}  ${perRow.toFixed(0).padStart(9)}` +
          (first.errors + second.errors ? `   (${first.errors + second.errors} errors)` : '') +
          (first.repeated ? `   (first pass repeated ${first.repeated} marks)` : ''),
      );
    }
  } finally {
    service?.kill('SIGTERM');
    if (service) await new Promise((resolve) => service!.once('exit', resolve));
    await bench.drop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
