/**
 * What the audit log costs a write: N transactions that each insert one row (an issuer) with one
 * prepared statement, three ways in the same run, one at a time and with several in flight, while
 * the sequencer (src/audit/sequencer.ts) integrates the entries and signs checkpoints in the
 * background, as in production:
 *   - plain: the statement alone, no audit;
 *   - one statement: the change and its entry in one statement (`changeWithEntry`, what a change
 *     that is a single statement uses, as API keys do);
 *   - own statement: the change, then its entry (`appendAuditEntry`, what a transaction of several
 *     statements uses), one round trip more;
 *   - sequencer paused: as one statement, with the sequencer stopped while the case runs (it
 *     integrates the case's entries after, outside the timing): what the write alone costs, so
 *     the gap to "one statement" is the sequencer's share. Its entries are left out of the commit
 *     → checkpoint times.
 * The cases alternate over several rounds (the order reversed every other round), so a table
 * growing or a neighbour's load drifting weighs on all alike. Prints, per round, writes per second
 * and the CPU each write cost this process (the service's side, sequencer included) and the
 * PostgreSQL backends of the bench's database (Linux /proc); then the median ratios and the time
 * from each audited write's commit to the stored checkpoint that includes it (p50, p99). A scratch
 * database is created and dropped.
 *
 *   [BENCH_PIN_POSTGRES=1] npx tsx bench/audit-append.ts [N=2000] [inFlight=1,16] [rounds=3]
 *
 * `inFlight` is one count or several, comma-separated, each run in turn. Besides throughput it
 * prints the CPU ratio (a plain write's CPU, service and PostgreSQL, over the case's): on a machine
 * whose cores the bench fills, throughput follows it, and it scatters less from round to round.
 *
 * On a shared machine throughput is noise; the ratios within a round and the CPU per write are what
 * to compare. Pin this process with `taskset -c 1` and PostgreSQL with BENCH_PIN_POSTGRES=1 (core 0)
 * so that neither shares a core with the other:
 *
 *   BENCH_PIN_POSTGRES=1 taskset -c 1 npx tsx bench/audit-append.ts 8000 16 5
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { appendAuditEntry, changeWithEntry } from '../src/audit/audit.queries';
import { AuditService } from '../src/audit/audit.service';
import { systemClock } from '../src/clock';
import { systemActor } from '../src/auth/principal';
import { clientQuery, openDatabase, type Database } from '../src/db/client';
import { backendCpu, backendCpuSince, pinPostgresIfAsked } from './lib/process';
import { scratchDatabase } from './lib/service-api';

const n = Number(process.argv[2] ?? 2000);
const inFlightCounts = (process.argv[3] ?? '1,16').split(',').map(Number);
const rounds = Number(process.argv[4] ?? 3);

/** Commit time (performance.now) of each audited write, by entry id, until its checkpoint. */
const committedAt = new Map<number, number>();
/** Commit → checkpoint latencies of the entries published while `latencies` is the current list. */
let latencies: number[] = [];

type Case = 'plain' | 'one statement' | 'own statement' | 'sequencer paused';
const CASES: readonly Case[] = ['plain', 'one statement', 'own statement', 'sequencer paused'];

/** The same write each way: the issuer row, and its entry by the production path. */
async function write(db: Database, how: Case, i: number): Promise<void> {
  const name = `Bench issuer ${i}`;
  const insert = {
    name: 'bench_issuer_insert',
    text: `INSERT INTO issuers (name, kind, schemes, country) VALUES ($1, $2, $3, $4) RETURNING id`,
    values: [name, 'certification_body', ['CCC'], 'CN'],
  };
  const entry = {
    actor: systemActor,
    action: 'issuer.create',
    subjectType: 'issuer',
    change: { name, schemes: ['CCC'] },
  };
  const id = await db.transaction(async (tx) => {
    if (how === 'one statement' || how === 'sequencer paused') {
      return (await changeWithEntry(tx, insert, new Date(), entry))!.auditEntryId;
    }
    const [row] = await clientQuery<{ id: string }>(tx, insert.name, insert.text, insert.values);
    if (how === 'plain') return undefined;
    return appendAuditEntry(tx, new Date(), { ...entry, subjectId: row!.id });
  });
  if (id !== undefined && how !== 'sequencer paused') committedAt.set(id, performance.now());
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const loadAverage = () =>
  fs.existsSync('/proc/loadavg')
    ? fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
    : 'n/a';

interface RunFigures {
  writesPerSecond: number;
  /** CPU µs per write of this process (writers and sequencer). */
  serviceCpuUs: number;
  /** CPU µs per write of the PostgreSQL backends serving the bench's database. */
  postgresCpuUs: number;
}

/** Runs `count` writes with `parallel` in flight. */
async function run(db: Database, how: Case, count: number, parallel: number): Promise<RunFigures> {
  let next = 0;
  const postgresBefore = await backendCpu(db);
  const serviceBefore = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) await write(db, how, next++);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const service = process.cpuUsage(serviceBefore);
  const postgresSeconds = backendCpuSince(postgresBefore, await backendCpu(db));
  return {
    writesPerSecond: count / seconds,
    serviceCpuUs: (service.user + service.system) / count,
    postgresCpuUs: (postgresSeconds * 1e6) / count,
  };
}

const cpuPerWrite = (f: RunFigures) => f.serviceCpuUs + f.postgresCpuUs;

const describeRun = (f: RunFigures) =>
  `${String(Math.round(f.writesPerSecond)).padStart(5)} writes/s, CPU per write ` +
  `${f.serviceCpuUs.toFixed(0)} µs service + ${f.postgresCpuUs.toFixed(0)} µs PostgreSQL`;

async function main(): Promise<void> {
  // With BENCH_PIN_POSTGRES=1, PostgreSQL on core 0 and this process (taskset -c 1) on core 1.
  const unpin = pinPostgresIfAsked(0);
  const database = await scratchDatabase('append');
  const handle = await openDatabase({
    databaseUrl: database.url,
    dataDir: '',
    maxConnections: Math.max(...inFlightCounts) + 2,
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
    console.log(
      `audit append cost: ${n} writes per case, ${rounds} alternating rounds, PostgreSQL, ` +
        `Node ${process.version}; load average ${loadAverage()}`,
    );
    for (const parallel of inFlightCounts) {
      // Warm up connections, plans and the JIT for every path.
      for (const how of CASES) await run(handle.db, how, 200, parallel);
      await audit.sync();
      latencies = [];
      const ratios = new Map<Case, number[]>(CASES.map((how) => [how, []]));
      const cpuRatios = new Map<Case, number[]>(CASES.map((how) => [how, []]));
      for (let round = 0; round < rounds; round++) {
        const figures = new Map<Case, RunFigures>();
        for (const how of round % 2 === 0 ? CASES : [...CASES].reverse()) {
          if (how === 'sequencer paused') {
            await audit.sync(); // the previous case's entries are not kept waiting by the pause
            await audit.sequencer.stop();
          }
          figures.set(how, await run(handle.db, how, n, parallel));
          if (how === 'sequencer paused') {
            await audit.sync();
            audit.startSequencer();
          }
        }
        const plain = figures.get('plain')!;
        const parts = CASES.map((how) => {
          const f = figures.get(how)!;
          const ratio = f.writesPerSecond / plain.writesPerSecond;
          ratios.get(how)!.push(ratio);
          cpuRatios.get(how)!.push(cpuPerWrite(plain) / cpuPerWrite(f));
          return how === 'plain'
            ? `plain ${describeRun(f)}`
            : `${how} ${describeRun(f)} = ${(ratio * 100).toFixed(0)} %`;
        });
        console.log(
          `${String(parallel).padStart(2)} in flight, round ${round + 1}: ${parts.join('; ')}`,
        );
      }
      await audit.sync();
      const sorted = [...latencies].sort((a, b) => a - b);
      const shares = (r: number[]) =>
        `${(median(r) * 100).toFixed(0)} % (${r.map((x) => (x * 100).toFixed(0)).join(', ')})`;
      const audited = CASES.filter((how) => how !== 'plain');
      const summary = audited.map((how) => `${how} ${shares(ratios.get(how)!)}`);
      const byCpu = audited.map((how) => `${how} ${shares(cpuRatios.get(how)!)}`);
      console.log(
        `${String(parallel).padStart(2)} in flight: audited writes as a share of plain ones, ` +
          `median of ${rounds} rounds: ${summary.join('; ')}; commit → signed checkpoint ` +
          `including the entry: p50 ${percentile(sorted, 50).toFixed(0)} ms, ` +
          `p99 ${percentile(sorted, 99).toFixed(0)} ms, max ${(sorted.at(-1) ?? NaN).toFixed(0)} ms ` +
          `(${sorted.length} entries); load average ${loadAverage()}`,
      );
      console.log(
        `${String(parallel).padStart(2)} in flight: by CPU per write (plain / audited), ` +
          `median of ${rounds} rounds: ${byCpu.join('; ')}`,
      );
    }
  } finally {
    await audit.sequencer.stop();
    await handle.close();
    await database.drop();
    unpin();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
