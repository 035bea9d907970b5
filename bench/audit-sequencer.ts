/**
 * What the sequencer costs an entry: writes `batch` audited rows (16 in flight, the sequencer
 * stopped), then runs one sequencing pass over them (`sync()`: integrate, move the horizon, advance
 * the tree head, sign and store a checkpoint), and charges the pass's CPU — this process's and the
 * PostgreSQL backends' of the scratch database — to the entries it integrated. Repeats until `n`
 * entries per round; prints per-round figures, so a pass's cost as the log grows shows too.
 *
 *   npx tsx bench/audit-sequencer.ts [n=20000] [batch=500] [rounds=3]
 *
 * `batch` is what a background pass finds at the write rate being studied (about 500 at 5,000
 * audited writes/s and the 100 ms interval). Pin it with `taskset -c 1`. Process CPU is counted in
 * the kernel's ticks: compare totals over many passes, not single passes.
 */
import { randomBytes } from 'node:crypto';
import { changeWithEntry } from '../src/audit/audit.queries';
import { AuditService } from '../src/audit/audit.service';
import { systemActor } from '../src/auth/principal';
import { systemClock } from '../src/clock';
import { openDatabase, type Database } from '../src/db/client';
import { backendCpu, backendCpuSince } from './lib/process';
import { scratchDatabase } from './lib/service-api';

const n = Number(process.argv[2] ?? 20_000);
const batch = Number(process.argv[3] ?? 500);
const rounds = Number(process.argv[4] ?? 3);
const IN_FLIGHT = 16;

async function writeEntries(db: Database, first: number, count: number): Promise<void> {
  let next = first;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < first + count) {
        const name = `Bench issuer ${next++}`;
        await db.transaction((tx) =>
          changeWithEntry(
            tx,
            {
              name: 'bench_issuer_insert',
              text: 'INSERT INTO issuers (name, kind, schemes, country) VALUES ($1, $2, $3, $4) RETURNING id',
              values: [name, 'certification_body', ['CCC'], 'CN'],
            },
            new Date(),
            {
              actor: systemActor,
              action: 'issuer.create',
              subjectType: 'issuer',
              change: { name },
            },
          ),
        );
      }
    }),
  );
}

async function main(): Promise<void> {
  const database = await scratchDatabase('sequencer');
  const handle = await openDatabase({
    databaseUrl: database.url,
    dataDir: '',
    maxConnections: IN_FLIGHT + 2,
  });
  const audit = new AuditService(handle.db, systemClock, randomBytes(32), 'bench.example/log');
  try {
    console.log(
      `sequencer cost: passes over ${batch} entries, ${n} entries a round, Node ${process.version}`,
    );
    let written = 0;
    for (let round = 1; round <= rounds; round++) {
      let nodeUs = 0;
      let postgresUs = 0;
      let wallMs = 0;
      for (let done = 0; done < n; done += batch) {
        await writeEntries(handle.db, written, batch);
        written += batch;
        const postgresBefore = await backendCpu(handle.db);
        const cpuBefore = process.cpuUsage();
        const started = performance.now();
        await audit.sync();
        wallMs += performance.now() - started;
        const cpu = process.cpuUsage(cpuBefore);
        nodeUs += cpu.user + cpu.system;
        postgresUs += backendCpuSince(postgresBefore, await backendCpu(handle.db)) * 1e6;
      }
      console.log(
        `round ${round} (log at ${written} entries): per entry ${(nodeUs / n).toFixed(1)} µs ` +
          `service CPU + ${(postgresUs / n).toFixed(1)} µs PostgreSQL CPU, ` +
          `${((wallMs * 1000) / n).toFixed(1)} µs wall`,
      );
    }
  } finally {
    await handle.close();
    await database.drop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
