import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/clock';
import { rowsOf } from '../../src/db/client';
import { ScanLogPartitions, partitionEnd } from '../../src/marks/scan-log-partitions';
import { scanLogPartitions } from '../../src/marks/scan-log.queries';
import { sql } from 'drizzle-orm';
import { client, createTestContext, type Client, type TestContext } from '../helpers';
import { createIssuer, createRoleKey, issueCertificate } from '../fixtures';
import { issueMarks, type IssuedMark } from './mark-helpers';

/**
 * The scan log is partitioned by month (migration 0010): a mark's history and clone detection read
 * across partitions as if there were one table, partitions appear for whatever month a scan is of,
 * and SCAN_RETENTION_DAYS drops whole months without blocking writers. (On PGlite:
 * test/e2e/pglite.test.ts.)
 */
describe('scan log partitioned by month', () => {
  let ctx: TestContext;
  let api: Client;
  let supervisor: string;
  let mark: IssuedMark;
  let other: IssuedMark;

  const verify = (code: string, region?: string) =>
    api.post('/v1/verify/mark', { code, ...(region ? { location: { region } } : {}) });
  const partitionsOf = async (serial: string) =>
    rowsOf<{ partition: string }>(
      await ctx.handle.db.execute(
        sql`SELECT DISTINCT tableoid::regclass::text AS partition FROM mark_scans WHERE serial = ${serial}::bigint ORDER BY 1`,
      ),
    ).map((r) => r.partition);

  beforeAll(async () => {
    ctx = await createTestContext({ CLONE_MAX_SCANS: '3' });
    api = client(ctx.app);
    const issuer = await createIssuer(ctx);
    supervisor = await createRoleKey(ctx, 'supervisor');
    const cert = await issueCertificate(api, issuer.key);
    [mark, other] = (await issueMarks(api, issuer.key, cert.id, { count: 2 })).marks as [
      IssuedMark,
      IssuedMark,
    ];
  });
  afterAll(async () => {
    await ctx.services.marks.close();
    await ctx.services.markVerification.close();
    await ctx.close();
  });

  it('reads a history and counts toward the clone flag across a month boundary', async () => {
    ctx.clock.set('2026-01-31T23:50:00Z');
    expect((await verify(mark.code, '110101')).body.verdict).toBe('authentic');
    ctx.clock.set('2026-01-31T23:55:00Z');
    expect((await verify(mark.code, '110101')).body.verdict).toBe('authentic');
    ctx.clock.set('2026-02-01T00:05:00Z');
    expect((await verify(mark.code, '110101')).body.verdict).toBe('authentic');
    // The fourth counted scan within the window, the first two of them last month: a clone.
    ctx.clock.set('2026-02-01T00:10:00Z');
    const fourth = await verify(mark.code, '110101');
    expect(fourth.body.verdict).toBe('suspicious');
    expect(fourth.body.reasons.map((r: { code: string }) => r.code)).toEqual(['SUSPECTED_CLONE']);
    await ctx.services.markVerification.flushScanLog();

    // The writer made the months it needed (the template holds only the months around today).
    expect(await partitionsOf(mark.serial)).toEqual(['mark_scans_2026_01', 'mark_scans_2026_02']);
    const all = await api.get(`/v1/marks/${mark.serial}/scans`, supervisor);
    expect(all.status).toBe(200);
    expect(all.body.total).toBe(4);
    expect(all.body.items.map((i: { at: string }) => i.at)).toEqual([
      '2026-02-01T00:10:00.000Z',
      '2026-02-01T00:05:00.000Z',
      '2026-01-31T23:55:00.000Z',
      '2026-01-31T23:50:00.000Z',
    ]);
    // A page that straddles the boundary.
    const second = await api.get(`/v1/marks/${mark.serial}/scans?page=2&pageSize=3`, supervisor);
    expect(second.body.items.map((i: { at: string }) => i.at)).toEqual([
      '2026-01-31T23:50:00.000Z',
    ]);
    expect(second.body.total).toBe(4);
  });

  it('drops whole months past retention, concurrently, and keeps the rest', async () => {
    ctx.clock.set('2026-03-20T12:00:00Z');
    expect((await verify(other.code)).body.verdict).toBe('authentic');
    await ctx.services.markVerification.flushScanLog();
    const clock = fixedClock('2026-03-20T12:00:00Z');
    const partitions = new ScanLogPartitions({ db: ctx.handle.db, clock, retentionDays: 40 });

    // A transaction that wrote to the log and stays open: DETACH … CONCURRENTLY waits for it, and
    // meanwhile other sessions still write and read mark_scans (a plain DETACH would block them).
    const open = new pg.Client({ connectionString: ctx.databaseUrl });
    const writer = new pg.Client({ connectionString: ctx.databaseUrl });
    await Promise.all([open.connect(), writer.connect()]);
    try {
      await open.query('BEGIN');
      await open.query(
        `INSERT INTO mark_scans (serial, at, channel, verdict, reasons) VALUES (1, '2026-03-20T11:00:00Z', 'api', 'forged', '{}')`,
      );
      // Cut-off 2026-02-08: January (ends Feb 1) goes, February (ends Mar 1) stays.
      const dropping = partitions.maintain();
      await new Promise((r) => setTimeout(r, 300));
      await writer.query(`SET lock_timeout = '2s'`);
      await writer.query(
        `INSERT INTO mark_scans (serial, at, channel, verdict, reasons) VALUES (2, '2026-03-20T11:30:00Z', 'api', 'forged', '{}')`,
      );
      const { rows } = await writer.query<{ n: string }>(`SELECT count(*) AS n FROM mark_scans`);
      expect(Number(rows[0]!.n)).toBeGreaterThan(0);
      await open.query('COMMIT');
      expect(await dropping).toEqual(['mark_scans_2026_01']);
    } finally {
      await open.end();
      await writer.end();
    }

    const names = (await scanLogPartitions(ctx.handle.db)).map((p) => p.name);
    expect(names).not.toContain('mark_scans_2026_01');
    expect(names).toEqual(
      expect.arrayContaining([
        'mark_scans_2026_02',
        'mark_scans_2026_03',
        'mark_scans_2026_04',
        'mark_scans_2026_05',
      ]),
    );
    const [gone] = rowsOf<{ table: string | null }>(
      await ctx.handle.db.execute(sql`SELECT to_regclass('mark_scans_2026_01')::text AS table`),
    );
    expect(gone!.table).toBeNull();
    const history = await api.get(`/v1/marks/${mark.serial}/scans`, supervisor);
    expect(history.body.items.map((i: { at: string }) => i.at)).toEqual([
      '2026-02-01T00:10:00.000Z',
      '2026-02-01T00:05:00.000Z',
    ]);
    // The mark's own counters are not the log: they stay.
    expect(history.body.scanCount).toBe(4);
    expect(history.body.suspectedCloneSince).toBe('2026-02-01T00:10:00.000Z');
    // Nothing more to drop, and no retention keeps everything.
    expect(await partitions.dropExpired(clock.now())).toEqual([]);
    const keepAll = new ScanLogPartitions({
      db: ctx.handle.db,
      clock,
      retentionDays: undefined,
    });
    expect(await keepAll.dropExpired(new Date('2030-01-01T00:00:00Z'))).toEqual([]);
  });

  it('reads a partition’s end from its name', () => {
    expect(partitionEnd('mark_scans_2026_12')?.toISOString()).toBe('2027-01-01T00:00:00.000Z');
    expect(partitionEnd('mark_scans_before_2026_11')?.toISOString()).toBe(
      '2026-11-01T00:00:00.000Z',
    );
    expect(partitionEnd('mark_scans_default')).toBeUndefined();
  });
});
