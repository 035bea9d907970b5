/**
 * What the audit log costs a write: N transactions that insert one row (an issuer, as
 * IssuersService does) without and with `appendAuditEntry` in the same transaction, in the same
 * run, one at a time and with several in flight, while the sequencer (src/audit/sequencer.ts)
 * integrates the entries and signs checkpoints in the background, as in production. Prints the
 * ratios and the time from each audited write's commit to the stored checkpoint that includes it
 * (p50, p99). A scratch database is created and dropped.
 *
 *   npx tsx bench/audit-append.ts [N=2000] [inFlight=16]
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { appendAuditEntry } from '../src/audit/audit.queries';
import { AuditService } from '../src/audit/audit.service';
import { systemClock } from '../src/clock';
import { systemActor } from '../src/auth/principal';
import { openDatabase, type Database } from '../src/db/client';
import { issuers } from '../src/db/schema/issuers';

const n = Number(process.argv[2] ?? 2000);
const inFlight = Number(process.argv[3] ?? 16);

/** Commit time (performance.now) of each audited write, by entry id, until its checkpoint. */
const committedAt = new Map<number, number>();
const latencies: number[] = [];

async function write(db: Database, audited: boolean, i: number): Promise<void> {
  const id = await db.transaction(async (tx) => {
    const [row] = await tx
      .insert(issuers)
      .values({
        name: `Bench issuer ${i}`,
        kind: 'certification_body',
        schemes: ['CCC'],
        country: 'CN',
      })
      .returning({ id: issuers.id });
    if (audited) {
      return appendAuditEntry(tx, new Date(), {
        actor: systemActor,
        action: 'issuer.create',
        subjectType: 'issuer',
        subjectId: row!.id,
        change: { name: `Bench issuer ${i}`, schemes: ['CCC'] },
      });
    }
    return undefined;
  });
  if (id !== undefined) committedAt.set(id, performance.now());
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** Runs `count` writes with `parallel` in flight; returns writes per second. */
async function run(
  db: Database,
  audited: boolean,
  count: number,
  parallel: number,
): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) await write(db, audited, next++);
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

async function main(): Promise<void> {
  const serverUrl = new URL(
    process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  );
  const dbName = `certmark_bench_append_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl.toString() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const url = new URL(serverUrl);
  url.pathname = `/${dbName}`;
  const handle = await openDatabase({
    databaseUrl: url.toString(),
    dataDir: '',
    maxConnections: inFlight + 2,
  });
  const audit = new AuditService(handle.db, systemClock, randomBytes(32), 'bench.example/log', {
    onPublished: ({ ids }) => {
      const now = performance.now();
      for (const id of ids) {
        const at = committedAt.get(id);
        if (at === undefined) continue;
        latencies.push(now - at);
        committedAt.delete(id);
      }
    },
  });
  audit.startSequencer();
  try {
    console.log(`audit append cost: ${n} writes per case, PostgreSQL, Node ${process.version}`);
    // Warm up connections, plans and the JIT for both paths.
    await run(handle.db, false, 200, inFlight);
    await run(handle.db, true, 200, inFlight);
    latencies.length = 0;
    for (const parallel of [1, inFlight]) {
      const plain = await run(handle.db, false, n, parallel);
      const audited = await run(handle.db, true, n, parallel);
      console.log(
        `${String(parallel).padStart(2)} in flight: ${Math.round(plain)} writes/s without audit, ` +
          `${Math.round(audited)} with; a write costs ${(plain / audited).toFixed(2)}× ` +
          `(+${((1000 / audited - 1000 / plain) * 1000).toFixed(0)} µs of throughput per write); ` +
          `audited = ${((audited / plain) * 100).toFixed(0)} % of unaudited`,
      );
    }
    await audit.sync();
    const sorted = [...latencies].sort((a, b) => a - b);
    console.log(
      `commit → signed checkpoint including the entry: p50 ${percentile(sorted, 50).toFixed(0)} ms, ` +
        `p99 ${percentile(sorted, 99).toFixed(0)} ms, max ${(sorted.at(-1) ?? NaN).toFixed(0)} ms ` +
        `(${sorted.length} entries)`,
    );
  } finally {
    await audit.sequencer.stop();
    await handle.close();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
