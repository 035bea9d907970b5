/**
 * What the supervisor console costs to gather as the scan log grows: the scan log filled with
 * `rows` checks spread over the last 30 days (China Standard Time), 1,000 open alerts across the
 * provinces, then `SupervisorConsole.overview` (everything GET /supervisor reads: alerts, map,
 * trend, clones) and the trend's daily count of checks alone (a new service, nothing
 * remembered), timed `runs` times each in this process; prints the first call and the median and
 * slowest of the later ones. The first count reads every check of the window; later ones read
 * only today's, the settled days being remembered (MarksService.dailyChecks).
 *
 *   npx tsx bench/supervisor-console.ts [rows=1000000] [runs=5]
 */
import os from 'node:os';
import { sql } from 'drizzle-orm';
import { createServices } from '../src/app';
import type { Principal } from '../src/auth/principal';
import { ensureScanLogMonth } from '../src/marks/scan-log.queries';
import { SupervisorConsole, TREND_DAYS } from '../src/supervision/console/console.service';
import { setUpMarkBench } from './mark-bench-setup';

const rows = Number(process.argv[2] ?? 1_000_000);
const runs = Number(process.argv[3] ?? 5);
const DAY = 86_400_000;

async function timed(what: string, run: () => Promise<unknown>) {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  const first = times[0]!;
  const later = times.slice(1).sort((a, b) => a - b);
  const median = later[Math.floor(later.length / 2)] ?? first;
  console.log(
    `${what}: first ${first.toFixed(0)} ms, then median ${median.toFixed(0)} ms, slowest ${(later.at(-1) ?? first).toFixed(0)} ms`,
  );
}

const bench = await setUpMarkBench();
try {
  const { db } = bench.handle;
  const now = Date.now();
  for (let back = 0; back <= TREND_DAYS; back += 15)
    await ensureScanLogMonth(db, new Date(now - back * DAY));
  const seedStart = performance.now();
  await db.execute(sql`
    INSERT INTO mark_scans (serial, at, region, channel, verdict, reasons, counted)
    SELECT (1000000000000000 + g % 500000)::bigint,
           to_timestamp(${Math.floor(now / 1000)} - (g % ${TREND_DAYS * 86_400})),
           (ARRAY['350100','110105','440300','330100','510100'])[1 + g % 5],
           CASE WHEN g % 3 = 0 THEN 'page' ELSE 'api' END,
           CASE WHEN g % 50 = 0 THEN 'suspicious' ELSE 'authentic' END,
           '{}', g % 20 <> 0
    FROM generate_series(1, ${rows}) AS g`);
  for (let i = 0; i < 1000; i++) {
    await bench.services.alerts.raise({
      subjectType: 'code',
      subject: `bench-${i}`,
      verdict: i % 3 === 0 ? 'forged' : i % 3 === 1 ? 'misused' : 'suspicious',
      reasons: [
        i % 3 === 0
          ? { code: 'BAD_SIGNATURE', message: 'bench' }
          : i % 3 === 1
            ? { code: 'HOLDER_MISMATCH', message: 'bench' }
            : { code: 'SUSPECTED_CLONE', message: 'bench' },
      ],
      region: ['350100', '110105', '440300', '330100', '510100'][i % 5],
      channel: 'verify.mark',
      at: new Date(now - (i % TREND_DAYS) * DAY),
    });
  }
  await bench.services.alerts.flush();
  await db.execute(sql`ANALYZE mark_scans`);
  console.log(
    `seeded ${rows} checks and 1000 alerts in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`,
  );

  const supervisor: Principal = {
    keyId: bench.principal.keyId,
    role: 'supervisor',
    issuerId: null,
  };
  const consoleData = new SupervisorConsole({
    alerts: bench.services.alerts,
    audit: bench.services.audit,
    marks: bench.services.marks,
    issuers: bench.services.issuers,
  });
  const filters = { status: 'open' as const, reason: undefined, issuer: undefined };
  await timed('overview (all GET /supervisor reads)', () =>
    consoleData.overview(supervisor, filters),
  );
  const marks = createServices(bench.deps).marks;
  try {
    await timed('daily checks alone', () => marks.dailyChecks(supervisor, TREND_DAYS));
  } finally {
    await marks.close();
  }
  console.log(
    `load average: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
} finally {
  await bench.drop();
}
