/**
 * Mark issuance: one 1,000,000-mark batch into PostgreSQL (a scratch database), marks per second
 * and the peak RSS; then the batch's export (every code re-derived and signed on the worker
 * threads, streamed as NDJSON), marks per second. Targets: >= 25,000 marks/s, < 300 MB.
 *
 *   npx tsx bench/mark-issuance.ts [count=1000000]
 */
import { mb, setUpMarkBench } from './mark-bench-setup';

const count = Number(process.argv[2] ?? 1_000_000);

async function main() {
  const bench = await setUpMarkBench();
  try {
    const { services, principal, certificateId } = bench;
    const rssBefore = process.resourceUsage().maxRSS;
    let started = performance.now();
    const batch = await services.marks.issueBatch(principal, certificateId, {
      count,
      lot: 'BENCH',
    });
    const issueSeconds = (performance.now() - started) / 1000;
    const done = await services.marks.getBatch(principal, batch.batchId);
    if (done.status !== 'done' || done.done !== count)
      throw new Error(`batch ended ${done.status} with ${done.done}`);
    const rssAfterIssue = process.resourceUsage().maxRSS;

    started = performance.now();
    const stream = await services.marks.exportBatch(principal, batch.batchId, 'ndjson');
    let bytes = 0;
    let lines = 0;
    const reader = stream.getReader();
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      const chunk = read.value;
      bytes += chunk.byteLength;
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
    }
    const exportSeconds = (performance.now() - started) / 1000;
    if (lines !== count) throw new Error(`exported ${lines} lines`);

    console.log(`mark issuance, ${count.toLocaleString('en')} marks in one batch`);
    console.log(
      `  issue:   ${issueSeconds.toFixed(1)} s   ${Math.round(count / issueSeconds).toLocaleString('en')} marks/s`,
    );
    console.log(
      `  export:  ${exportSeconds.toFixed(1)} s   ${Math.round(count / exportSeconds).toLocaleString('en')} marks/s signed and streamed (${(bytes / 1e6).toFixed(0)} MB NDJSON)`,
    );
    console.log(
      `  peak RSS: ${mb(process.resourceUsage().maxRSS)} (before: ${mb(rssBefore)}, after issuing: ${mb(rssAfterIssue)})`,
    );
  } finally {
    await bench.drop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
