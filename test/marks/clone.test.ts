import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, createServices, type Services } from '../../src/app';
import { openDatabase, rowsOf, type DatabaseHandle } from '../../src/db/client';
import { client, createTestContext, TEST_NOW, type Client, type TestContext } from '../helpers';
import { createIssuer, createRoleKey, issueCertificate } from '../fixtures';
import { issueMarks, type IssuedMark } from './mark-helpers';

/**
 * Clone detection (SPEC "Verification") with two service instances on two connection pools over
 * one database, scans alternating between them: the counts and the flag must come out as if there
 * were one.
 */
describe('clone detection across two instances', () => {
  let ctx: TestContext;
  let second: { handle: DatabaseHandle; services: Services; api: Client };
  let apis: Client[];
  let marks: IssuedMark[];
  /** Marks no test scans before the first-scan race. */
  let fresh: IssuedMark[];
  let supervisorKey: string;
  let issuerKey: string;
  let scans = 0;

  /** Verifies on the instances in turn. */
  const scan = (mark: IssuedMark, location?: Record<string, unknown>) =>
    apis[scans++ % 2]!.post('/v1/verify/mark', {
      code: mark.code,
      ...(location ? { location } : {}),
    });
  const codes = (res: { body: { reasons: { code: string }[] } }) =>
    res.body.reasons.map((r) => r.code);

  beforeAll(async () => {
    ctx = await createTestContext();
    const handle = await openDatabase({
      databaseUrl: ctx.databaseUrl,
      dataDir: '',
      maxConnections: 5,
    });
    const deps = {
      db: handle.db,
      config: ctx.config,
      keys: ctx.keys,
      clock: ctx.clock,
      ping: handle.ping,
    };
    const services = createServices(deps);
    second = { handle, services, api: client(createApp(deps, services)) };
    apis = [client(ctx.app), second.api];
    const issuer = await createIssuer(ctx);
    issuerKey = issuer.key;
    supervisorKey = await createRoleKey(ctx, 'supervisor');
    const cert = await issueCertificate(apis[0]!, issuer.key);
    ({ marks } = await issueMarks(apis[0]!, issuer.key, cert.id, { count: 9 }));
    fresh = (await issueMarks(apis[0]!, issuer.key, cert.id, { count: 40 })).marks;
  });
  afterAll(async () => {
    await second.services.marks.close();
    await second.services.markVerification.close();
    await second.handle.close();
    await ctx.services.marks.close();
    await ctx.services.markVerification.close();
    await ctx.close();
  });

  it('counts concurrent scans on both instances exactly, and flags the 21st', async () => {
    const mark = marks[0]!;
    const answers = await Promise.all(Array.from({ length: 20 }, () => scan(mark)));
    expect(answers.every((a) => a.status === 200 && a.body.verdict === 'authentic')).toBe(true);
    expect(answers.map((a) => a.body.mark.scanCount).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    const twentyFirst = await scan(mark);
    expect(twentyFirst.body.verdict).toBe('suspicious');
    expect(codes(twentyFirst)).toEqual(['SUSPECTED_CLONE']);
    expect(twentyFirst.body.mark.scanCount).toBe(21);
    // From then on, on either instance.
    expect((await scan(mark)).body.verdict).toBe('suspicious');
    expect((await scan(mark)).body.verdict).toBe('suspicious');
    const alerts = await apis[0]!.get(
      '/v1/alerts?reason=SUSPECTED_CLONE&status=open',
      supervisorKey,
    );
    expect(
      alerts.body.items.filter((a: { subject: string }) => a.subject === mark.serial),
    ).toHaveLength(1);
  });

  it('alerts supervisors to a suspected clone under an invalid verdict (a voided mark copied)', async () => {
    const mark = marks[8]!;
    const voided = await apis[0]!.post(
      `/v1/marks/${mark.serial}/void`,
      { reason: 'lost' },
      issuerKey,
    );
    expect(voided.status).toBe(200);
    for (let i = 0; i < 20; i++) expect(codes(await scan(mark))).toEqual(['MARK_VOID']);
    const flagged = await scan(mark);
    // Invalid is the more severe class, but the clone is a finding supervisors must see.
    expect(flagged.body.verdict).toBe('invalid');
    expect(codes(flagged).sort()).toEqual(['MARK_VOID', 'SUSPECTED_CLONE']);
    await scan(mark);
    const alerts = await apis[0]!.get(
      `/v1/alerts?reason=SUSPECTED_CLONE&status=open`,
      supervisorKey,
    );
    const own = alerts.body.items.filter((a: { subject: string }) => a.subject === mark.serial);
    expect(own).toHaveLength(1);
    expect(own[0].count).toBe(2);
  });

  it('counts first scans of one mark on both instances at once: one creates its row, the other counts on it', async () => {
    // A mark's first scan creates its row; two at once on two instances must both be counted.
    const answers = await Promise.all(
      fresh.flatMap((mark) =>
        [0, 1, 0, 1].map((i) => apis[i]!.post('/v1/verify/mark', { code: mark.code })),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
    expect(answers.every((a) => a.body.verdict === 'authentic')).toBe(true);
    for (const [k, mark] of fresh.entries()) {
      const counts = answers.slice(4 * k, 4 * k + 4).map((a) => a.body.mark.scanCount as number);
      expect(
        counts.sort((a, b) => a - b),
        mark.serial,
      ).toEqual([1, 2, 3, 4]);
    }
  });

  it('flags a mark seen in 3 provinces within 24 hours, not 3 provinces over a longer time', async () => {
    const [flagged, spread] = [marks[1]!, marks[2]!];
    expect((await scan(flagged, { region: '350100' })).body.verdict).toBe('authentic');
    expect((await scan(flagged, { region: '350200' })).body.verdict).toBe('authentic');
    expect((await scan(flagged, { region: '440300' })).body.verdict).toBe('authentic');
    const third = await scan(flagged, { region: '110105' });
    expect(codes(third)).toEqual(['SUSPECTED_CLONE']);
    expect(third.body.mark.firstScan).toEqual({ at: TEST_NOW, region: '350100' });

    expect((await scan(spread, { region: '350100' })).body.verdict).toBe('authentic');
    ctx.clock.advance(12 * 3_600_000);
    expect((await scan(spread, { region: '440300' })).body.verdict).toBe('authentic');
    ctx.clock.advance(13 * 3_600_000); // Fujian is now more than 24 hours ago
    expect((await scan(spread, { region: '110105' })).body.verdict).toBe('authentic');
    ctx.clock.set(TEST_NOW);
  });

  it('flags two scans more than 500 km apart within an hour', async () => {
    const [far, near] = [marks[3]!, marks[4]!];
    const beijing = { lat: 39.9042, lon: 116.4074 };
    const tianjin = { lat: 39.0842, lon: 117.2009 }; // ~110 km
    const shanghai = { lat: 31.2304, lon: 121.4737 }; // ~1,070 km from Beijing
    expect((await scan(far, beijing)).body.verdict).toBe('authentic');
    ctx.clock.advance(30 * 60_000);
    expect(codes(await scan(far, shanghai))).toEqual(['SUSPECTED_CLONE']);
    ctx.clock.set(TEST_NOW);

    expect((await scan(near, beijing)).body.verdict).toBe('authentic');
    expect((await scan(near, tianjin)).body.verdict).toBe('authentic');
    ctx.clock.advance(2 * 3_600_000); // far, but not within the hour
    expect((await scan(near, shanghai)).body.verdict).toBe('authentic');
    ctx.clock.set(TEST_NOW);
  });

  it('answers a point too fine for float8 trigonometry, and the scans counted with it', async () => {
    // 5e-324 (and differences like 1e-200) underflow PostgreSQL's radians()/power() (22003); a
    // scan's coordinates are kept to 1e-7°, and a scan whose data fails its counting statement
    // is counted again alone, so it never fails the other scans of its turn.
    const [fine, bystander] = [marks[5]!, marks[6]!];
    const tiny = { lat: 5e-324, lon: -0 };
    expect((await scan(fine, tiny)).status).toBe(200);
    const [again, other] = await Promise.all([
      apis[0]!.post('/v1/verify/mark', { code: fine.code, location: tiny }),
      apis[0]!.post('/v1/verify/mark', { code: bystander.code, location: { lat: 1e-200, lon: 0 } }),
    ]);
    expect([again.status, again.body.verdict]).toEqual([200, 'authentic']);
    expect([other.status, other.body.verdict]).toEqual([200, 'authentic']);
    expect(again.body.mark.scanCount).toBe(2);
    const [row] = rowsOf<{ lat: number }>(
      await ctx.handle.db.execute(
        sql`SELECT first_scan_lat AS lat FROM marks WHERE lpad(serial::text, 16, '0') = ${again.body.mark.serial}`,
      ),
    );
    expect(row).toEqual({ lat: 0 });
  });

  it('takes coordinates a scanning app left blank or wrote as no number as none, not the point 0,0', async () => {
    const mark = marks[7]!;
    for (const query of ['?lat=&lon=', '?lat=0x1e&lon=0b1', '?lat=%20&lon=Infinity']) {
      const page = await apis[0]!.get(`/m/${mark.code}${query}`, undefined, {
        accept: 'text/html',
      });
      expect(page.status).toBe(200);
    }
    const [row] = rowsOf<{ lat: number | null; lon: number | null; scans: number }>(
      await ctx.handle.db.execute(
        sql`SELECT first_scan_lat AS lat, first_scan_lon AS lon, scan_count AS scans
            FROM marks WHERE lpad(serial::text, 16, '0') = ${mark.serial}`,
      ),
    );
    expect(row).toEqual({ lat: null, lon: null, scans: 3 });
  });

  it('clears a suspected clone (supervisor): the flag and the counting window start afresh', async () => {
    const mark = marks[0]!;
    expect(await second.services.marks.clearSuspectedClone(mark.serial)).toBe(true);
    const after = await scan(mark);
    expect(after.body.verdict).toBe('authentic');
    expect(after.body.mark.scanCount).toBe(24);
    const audit = rowsOf<{ action: string }>(
      await ctx.handle.db.execute(
        sql`SELECT action FROM audit_log WHERE subject_id = ${mark.serial}`,
      ),
    );
    expect(audit.map((a) => a.action)).toEqual(['mark.clone.clear']);
    expect(await ctx.services.marks.clearSuspectedClone('0000000000000097')).toBe(false);
  });

  it('answers a change made through one instance at the next scan on the other', async () => {
    // Each instance keeps the certificates it has seen under their row versions; a change made
    // through the other instance must show at once all the same.
    const body = await createIssuer(ctx, { name: 'Two-Instance Body' });
    const cert = await issueCertificate(apis[0]!, body.key);
    const { marks: own } = await issueMarks(apis[0]!, body.key, cert.id, { count: 2 });
    const seen = await second.api.post('/v1/verify/mark', { code: own[0]!.code });
    expect(seen.body.verdict).toBe('authentic');
    const changed = await apis[0]!.post(
      `/v1/certificates/${cert.id}/status`,
      { status: 'suspended', reason: 'audit', signatory: { name: '李四' } },
      body.key,
    );
    expect(changed.status).toBe(200);
    for (const mark of own) {
      const res = await second.api.post('/v1/verify/mark', { code: mark.code });
      expect(res.body.verdict).toBe('invalid');
      expect(codes(res)).toEqual(['SUSPENDED']);
      expect(res.body.certificate.status).toBe('suspended');
    }
  });
});
