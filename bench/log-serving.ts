/**
 * Serving the transparency log, and witnessing it with one slow witness.
 *
 * The service (src/main.ts, a child process pinned to core 0, rate limit off) runs on a scratch
 * PostgreSQL database holding `entries` audit entries, with three witnesses (C2SP tlog-witness, the
 * test witness of test/transparency/witness.ts, run in this process): two that answer at once and
 * one that waits `slowMs` before each answer, WITNESS_QUORUM=`quorum`. This process (autocannon and
 * the witnesses) is pinned to core 1; PostgreSQL is not pinned.
 *
 * 1. Tile read rate: GET /log/tile/0/<N> (full level-0 tiles), then GET /log/tile/entries/<N>
 *    (entry bundles), 32 connections: first every tile once (read from the database: "cold"),
 *    then every index in turn for `seconds` (full tiles are immutable and kept in memory: "warm").
 * 2. Witnessed lag: entries are written (committed straight into the audit log, as audited
 *    changes do) at `rate` per second for `seconds`; /readyz is read every 250 ms and its witnessed
 *    lag (entries and seconds between the latest checkpoint and the latest witnessed one) and the
 *    slow witness's own lag are printed as p50 / p99 / max.
 *
 *   npx tsx bench/log-serving.ts [entries=70000] [seconds=10] [slowMs=2000] [rate=200] [quorum=2]
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { appendAuditEntry } from '../src/audit/audit.queries';
import { systemActor } from '../src/auth/principal';
import { parseVerifierKey, type NoteVerifier } from '../src/crypto/signed-note';
import { openDatabase } from '../src/db/client';
import { formatTileIndex } from '../src/audit/tiles';
import { startTestWitness } from '../test/transparency/witness';
import { builtService, cpuSeconds, freePort, pinSelf, start } from './lib/process';
import { scratchDatabase, waitReady } from './lib/service-api';

const entryCount = Number(process.argv[2] ?? 70_000);
const seconds = Number(process.argv[3] ?? 10);
const slowMs = Number(process.argv[4] ?? 2_000);
const rate = Number(process.argv[5] ?? 200);
const quorum = Number(process.argv[6] ?? 2);
const SERVER_CPU = 0;
const LOAD_CPU = 1;
const CONNECTIONS = 32;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

const summary = (values: number[], digits = 0) => {
  const sorted = [...values].sort((a, b) => a - b);
  return `p50 ${percentile(sorted, 50).toFixed(digits)}, p99 ${percentile(sorted, 99).toFixed(digits)}, max ${(sorted.at(-1) ?? NaN).toFixed(digits)}`;
};

async function readTiles(base: string, paths: string[], serverPid: number, once = false) {
  const before = cpuSeconds((pid) => pid === serverPid);
  let next = 0;
  const started = performance.now();
  const result = await autocannon({
    url: base,
    connections: Math.min(CONNECTIONS, paths.length),
    ...(once ? { amount: paths.length } : { duration: seconds }),
    requests: [
      { method: 'GET', setupRequest: (r) => ({ ...r, path: paths[next++ % paths.length]! }) },
    ],
  });
  const elapsed = (performance.now() - started) / 1000;
  const cpu = cpuSeconds((pid) => pid === serverPid) - before;
  return (
    `${(result.requests.total / elapsed).toFixed(0).padStart(6)} tiles/s   p50 ${result.latency.p50} ms   ` +
    `p99 ${result.latency.p99} ms   (${result.requests.total} requests, ${result.non2xx} non-2xx, ` +
    `${result.errors} errors; server CPU ${((1e6 * cpu) / Math.max(1, result.requests.total)).toFixed(0)} µs a tile)`
  );
}

async function main(): Promise<void> {
  pinSelf(LOAD_CPU);
  const database = await scratchDatabase('log');
  const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmark-bench-keys-'));

  // The witnesses learn the log's key once the service has made it (GET /log/key).
  const logs = new Map<string, NoteVerifier[]>();
  const witnesses = await Promise.all(
    [0, 0, slowMs].map((delayMs, i) =>
      startTestWitness({
        name: `witness.bench/${i === 2 ? 'slow' : `fast${i}`}`,
        seed: new Uint8Array(randomBytes(32)),
        logs,
        delayMs,
      }),
    ),
  );
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let handle: Awaited<ReturnType<typeof openDatabase>> | undefined;
  try {
    child = await start(
      [builtService()],
      {
        DATABASE_URL: database.url,
        PORT: String(port),
        KEYS_DIR: keysDir,
        PUBLIC_BASE_URL: 'https://certmark.bench',
        RATE_LIMIT_PER_MINUTE: '0',
        LOG_LEVEL: 'warn',
        WITNESSES: witnesses.map((w) => w.entry).join(','),
        WITNESS_QUORUM: String(quorum),
      },
      undefined,
      { cpu: SERVER_CPU },
    );
    await waitReady(base, child, 600);
    const logKey = parseVerifierKey(await (await fetch(`${base}/log/key`)).text());
    logs.set(logKey.name, [logKey]);
    handle = await openDatabase({ databaseUrl: database.url, dataDir: '', maxConnections: 4 });
    const db = handle.db;

    // The log: `entryCount` entries, 1,000 to a transaction; the service's sequencer integrates them.
    let written = 0;
    const write = async (count: number) => {
      await db.transaction(async (tx) => {
        for (let i = 0; i < count; i++) {
          const n = written++;
          await appendAuditEntry(tx, new Date(), {
            actor: systemActor,
            action: 'bench.write',
            subjectType: 'bench',
            subjectId: `entry-${n}`,
            change: {
              n,
              note: 'an audited change of about the size of a certificate status change',
            },
          });
        }
      });
    };
    for (let done = 0; done < entryCount; done += 1000)
      await write(Math.min(1000, entryCount - done));
    let lag = await (await fetch(`${base}/readyz`)).json();
    for (let i = 0; lag.witnessing.witnessedSize < written; i++) {
      if (i > 1200) throw new Error(`the log was not witnessed: ${JSON.stringify(lag.witnessing)}`);
      await sleep(250);
      lag = await (await fetch(`${base}/readyz`)).json();
    }

    console.log(
      `log serving: ${written} entries, PostgreSQL, Node ${process.version}, service on core ` +
        `${SERVER_CPU}, autocannon (${CONNECTIONS} connections) and witnesses on core ${LOAD_CPU}; ` +
        `load average ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
    );
    const fullTiles = Math.floor(written / 256);
    const tilePaths = Array.from(
      { length: fullTiles },
      (_, i) => `/log/tile/0/${formatTileIndex(i)}`,
    );
    const bundlePaths = Array.from(
      { length: fullTiles },
      (_, i) => `/log/tile/entries/${formatTileIndex(i)}`,
    );
    console.log(`level-0 tiles, cold  ${await readTiles(base, tilePaths, child.pid!, true)}`);
    console.log(`level-0 tiles, warm  ${await readTiles(base, tilePaths, child.pid!)}`);
    console.log(`entry bundles, cold  ${await readTiles(base, bundlePaths, child.pid!, true)}`);
    console.log(`entry bundles, warm  ${await readTiles(base, bundlePaths, child.pid!)}`);

    // Witnessed lag under a steady write rate, with one witness `slowMs` slow and a quorum of 2.
    const samples: { entries: number; seconds: number; slowEntries: number }[] = [];
    let writing = true;
    let sent = 0;
    const writeStarted = performance.now();
    const writer = (async () => {
      const started = writeStarted;
      while (writing) {
        const due = Math.floor(((performance.now() - started) / 1000) * rate) - sent;
        if (due > 0) {
          await write(due);
          sent += due;
        }
        await sleep(20);
      }
    })();
    const sampler = (async () => {
      const until = performance.now() + seconds * 1000;
      while (performance.now() < until) {
        await sleep(250);
        const w = (await (await fetch(`${base}/readyz`)).json()).witnessing;
        const slow = w.witnesses.find((x: { name: string }) => x.name.endsWith('/slow'));
        samples.push({
          entries: w.entries,
          seconds: w.seconds,
          slowEntries: w.latestSize - slow.cosignedSize,
        });
      }
    })();
    await sampler;
    writing = false;
    await writer;
    const wrote = sent / ((performance.now() - writeStarted) / 1000);
    console.log(
      `witnessed lag, ${rate} entries/s asked (${wrote.toFixed(0)} written) for ${seconds} s, ` +
        `quorum ${quorum} of 3, one witness ${slowMs} ms slow (${samples.length} /readyz samples):`,
    );
    console.log(`  entries  ${summary(samples.map((s) => s.entries))}`);
    console.log(
      `  seconds  ${summary(
        samples.map((s) => s.seconds),
        2,
      )}`,
    );
    console.log(
      `  the slow witness's own lag, entries  ${summary(samples.map((s) => s.slowEntries))}`,
    );
    console.log(
      `  answers: ${witnesses.map((w) => `${w.verifier.name} ${w.answers.filter((a) => a === 200).length}×200 ${w.answers.filter((a) => a !== 200).length}×other`).join(', ')}`,
    );
  } finally {
    child?.kill('SIGTERM');
    await new Promise((resolve) =>
      child && child.exitCode === null ? child.once('exit', resolve) : resolve(null),
    );
    await handle?.close();
    await Promise.all(witnesses.map((w) => w.close()));
    await database.drop();
    fs.rmSync(keysDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
