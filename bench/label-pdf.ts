/**
 * Label PDF of a big batch through the HTTP endpoint: one batch of `count` marks (every 10,000th
 * voided, so struck labels are in the mix) on a scratch database, then
 * `GET /v1/mark-batches/{id}/labels.pdf?stock=…` from the service in its own process, the PDF
 * streamed to /dev/null. Prints pages per second, time to the first byte, and the service's
 * resident memory: sampled while it streams and its peak (VmHWM), to show it stays flat rather than
 * growing with the batch. The service is pinned to core 0 (its signing workers with it), this
 * process (the reader) to core 1; PostgreSQL is not pinned.
 *
 *   npx tsx bench/label-pdf.ts [count=1000000] [stock=a4-4x7]
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { systemActor } from '../src/auth/principal';
import { mb, setUpMarkBench } from './mark-bench-setup';
import { builtService, cpuSeconds, freePort, pinSelf, start } from './lib/process';
import { waitReady } from './lib/service-api';

const count = Number(process.argv[2] ?? 1_000_000);
const stock = process.argv[3] ?? 'a4-4x7';
const VOID_EVERY = 10_000;
const SERVER_CPU = 0;
const READER_CPU = 1;

/** A process's resident and peak resident memory, kB (Linux /proc). */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)![1]);
  return { rss: field('VmRSS'), peak: field('VmHWM') };
}

const loadAverage = () => fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

async function main() {
  pinSelf(READER_CPU);
  const bench = await setUpMarkBench();
  const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmark-bench-keys-'));
  let child: ChildProcess | undefined;
  try {
    const { services, principal, certificateId } = bench;
    let started = performance.now();
    console.log(`issuing ${count.toLocaleString('en')} marks…`);
    const batch = await services.marks.issueBatch(principal, certificateId, { count });
    console.log(`  issued in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const serials: string[] = [];
    const reader = (
      await services.marks.exportBatch(principal, batch.batchId, 'ndjson')
    ).getReader();
    const decoder = new TextDecoder();
    let rest = '';
    let line = 0;
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      const lines = (rest + decoder.decode(read.value)).split('\n');
      rest = lines.pop()!;
      for (const text of lines) {
        if (line++ % VOID_EVERY === VOID_EVERY - 1)
          serials.push((JSON.parse(text) as { serial: string }).serial);
      }
    }
    for (const serial of serials) await services.marks.voidMark(principal, serial, 'bench');
    const { key } = await services.apiKeys.createKey(systemActor, {
      role: 'issuer',
      issuerId: principal.issuerId!,
    });
    await services.marks.close();

    // The service decrypts the issuer's signing key with the bench's KEK.
    for (const [file, value] of [
      ['kek', bench.deps.keys.kek],
      ['platform-signing-seed', bench.deps.keys.platformSeed],
    ] as const)
      fs.writeFileSync(path.join(keysDir, file), `${Buffer.from(value).toString('base64url')}\n`);
    const port = await freePort();
    child = await start(
      [builtService()],
      {
        DATABASE_URL: bench.url,
        PORT: String(port),
        KEYS_DIR: keysDir,
        PUBLIC_BASE_URL: 'https://certmark.test',
        RATE_LIMIT_PER_MINUTE: '0',
        LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
      },
      undefined,
      { cpu: SERVER_CPU },
    );
    const serverPid = child.pid!;
    await waitReady(`http://127.0.0.1:${port}`, child);
    const idle = memoryOf(serverPid);
    // The service's CPU (its signing workers are threads of it): a figure the other load on the
    // machine changes less than pages per second.
    const serverCpu = () => cpuSeconds((pid) => pid === serverPid);
    const cpuBefore = serverCpu();
    const loadBefore = loadAverage();

    console.log(`streaming labels.pdf?stock=${stock} to /dev/null…`);
    started = performance.now();
    const samples: { at: number; bytes: number; rss: number }[] = [];
    const result = await new Promise<{
      status: number;
      pages: number;
      bytes: number;
      firstByteMs: number;
      tail: string;
    }>((resolve, reject) => {
      const request = http.get(
        {
          host: '127.0.0.1',
          port,
          path: `/v1/mark-batches/${batch.batchId}/labels.pdf?stock=${stock}`,
          headers: { authorization: `Bearer ${key}` },
        },
        (response) => {
          const firstByteMs = performance.now() - started;
          const sink = fs.createWriteStream('/dev/null');
          let bytes = 0;
          let tail = Buffer.alloc(0);
          const sampler = setInterval(() => {
            samples.push({
              at: (performance.now() - started) / 1000,
              bytes,
              rss: memoryOf(serverPid).rss,
            });
          }, 2_000);
          response.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
            tail = Buffer.concat([tail, chunk]).subarray(-64);
          });
          response.pipe(sink);
          response.on('error', reject);
          sink.on('finish', () => {
            clearInterval(sampler);
            resolve({
              status: response.statusCode ?? 0,
              pages: Number(response.headers['x-total-pages']),
              bytes,
              firstByteMs,
              tail: tail.toString('latin1'),
            });
          });
        },
      );
      request.on('error', reject);
    });
    const seconds = (performance.now() - started) / 1000;
    const memory = memoryOf(serverPid);
    const cpu = serverCpu() - cpuBefore;
    if (result.status !== 200) throw new Error(`labels.pdf answered ${result.status}`);
    if (!result.tail.includes('%%EOF')) throw new Error('the PDF did not end with %%EOF');

    console.log(
      `label PDF, ${count.toLocaleString('en')} marks (${serials.length} void), stock ${stock}, service pinned to core ${SERVER_CPU}, reader to core ${READER_CPU}`,
    );
    console.log(
      `  ${result.pages.toLocaleString('en')} pages, ${(result.bytes / 1e6).toFixed(0)} MB in ${seconds.toFixed(1)} s: ${(result.pages / seconds).toFixed(1)} pages/s, ${Math.round(count / seconds).toLocaleString('en')} labels/s; first byte after ${result.firstByteMs.toFixed(0)} ms`,
    );
    console.log(
      `  service CPU: ${cpu.toFixed(0)} s, ${((cpu * 1000) / result.pages).toFixed(1)} ms a page (${((cpu * 1e6) / count).toFixed(0)} µs a label): ${(result.pages / cpu).toFixed(0)} pages/s a core`,
    );
    console.log(
      `  service RSS: idle ${mb(idle.rss)}, at the end ${mb(memory.rss)}, peak (VmHWM) ${mb(memory.peak)}`,
    );
    const step = Math.max(1, Math.floor(samples.length / 8));
    console.log(
      `  RSS while streaming: ${samples
        .filter((_, i) => i % step === 0)
        .map((s) => `${s.at.toFixed(0)} s ${(s.bytes / 1e6).toFixed(0)} MB out → ${mb(s.rss)}`)
        .join(', ')}`,
    );
    console.log(`  load average before: ${loadBefore}; after: ${loadAverage()}`);
  } finally {
    child?.kill('SIGTERM');
    fs.rmSync(keysDir, { recursive: true, force: true });
    await bench.drop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
