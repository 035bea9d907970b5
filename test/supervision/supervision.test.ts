import { sql } from 'drizzle-orm';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/clock';
import { openDatabase } from '../../src/db/client';
import { drawCommitment, recomputeDraw } from '../../src/inspections/draw';
import { organizationCodeCheckCharacter, usccCheckCharacter } from '../../src/shared/identifiers';
import { AlertsService } from '../../src/supervision/alerts.service';
import type { AlertSignal } from '../../src/verification/alert-sink';
import { client, createTestContext, TEST_NOW, type Client, type TestContext } from '../helpers';
import { issueMarks } from '../marks/mark-helpers';
import {
  createIssuer,
  createRoleKey,
  issueCertificate,
  USCC,
  type IssuerFixture,
} from '../fixtures';

/** A valid USCC registered in `region` (GB 32100 and GB 11714 checks computed). */
function usccIn(region: string, org8: string): string {
  const org9 = org8 + organizationCodeCheckCharacter(org8);
  const first17 = `91${region}${org9}`;
  return first17 + usccCheckCharacter(first17);
}

const at = new Date(TEST_NOW);

function signal(overrides: Partial<AlertSignal> = {}): AlertSignal {
  return {
    subjectType: 'mark',
    subject: '1234567890123456',
    verdict: 'forged',
    reasons: [{ code: 'BAD_SIGNATURE', message: 'the signature does not verify' }],
    channel: 'verify.mark',
    at,
    ...overrides,
  };
}

describe('supervision', () => {
  let ctx: TestContext;
  let api: Client;
  let supervisor: string;
  let customs: string;
  let issuer: IssuerFixture;
  let otherIssuer: IssuerFixture;

  beforeAll(async () => {
    ctx = await createTestContext();
    api = client(ctx.app);
    supervisor = await createRoleKey(ctx, 'supervisor');
    customs = await createRoleKey(ctx, 'customs');
    issuer = await createIssuer(ctx);
    otherIssuer = await createIssuer(ctx, { name: 'Fujian Inspection Certification Co.' });
  });
  afterAll(async () => ctx.close());

  describe('alerts', () => {
    it('raises one alert per alerting reason and counts repeats with distinct regions', async () => {
      const subject = '1111222233334444';
      await ctx.services.alerts.raise(
        signal({
          subject,
          verdict: 'misused',
          reasons: [
            { code: 'OUT_OF_SCOPE', message: 'model not covered' },
            { code: 'EXPIRED', message: 'expired' }, // invalid: no alert
            { code: 'SUSPECTED_CLONE', message: 'scanned in 3 provinces' },
          ],
          region: '350100',
          issuerId: issuer.id,
          context: { model: 'Z-9' },
        }),
      );
      await ctx.services.alerts.raise(
        signal({
          subject,
          verdict: 'suspicious',
          reasons: [{ code: 'SUSPECTED_CLONE', message: 'again' }],
          region: '110000',
        }),
      );
      await ctx.services.alerts.raise(
        signal({
          subject,
          verdict: 'suspicious',
          reasons: [{ code: 'SUSPECTED_CLONE', message: 'again' }],
          region: '350100',
        }),
      );
      // authentic and invalid answers raise nothing
      await ctx.services.alerts.raise(
        signal({ subject, verdict: 'invalid', reasons: [{ code: 'REVOKED', message: 'revoked' }] }),
      );

      const res = await api.get(`/v1/alerts?issuer=${issuer.id}`, supervisor);
      expect(res.status).toBe(200);
      const mine = res.body.items.filter((a: any) => a.subject === subject);
      expect(mine.map((a: any) => a.reason).sort()).toEqual(['OUT_OF_SCOPE', 'SUSPECTED_CLONE']);
      const clone = mine.find((a: any) => a.reason === 'SUSPECTED_CLONE');
      expect(clone).toMatchObject({
        count: 3,
        status: 'open',
        severity: 'suspicious',
        regions: ['110000', '350100'],
        subjectType: 'mark',
      });
      expect(clone.raisedBy).toMatchObject({
        channel: 'verify.mark',
        verdict: 'misused',
        context: { model: 'Z-9' },
      });
      expect(clone.lastSeenBy.channel).toBe('verify.mark');
      // forged/misused listed before suspicious
      const severities = res.body.items.map((a: any) => a.severity);
      expect(severities.indexOf('misused')).toBeLessThan(severities.indexOf('suspicious'));
    });

    it('collapses concurrent raises from two service instances into one open alert', async () => {
      const second = await openDatabase({
        databaseUrl: ctx.databaseUrl,
        dataDir: '',
        maxConnections: 5,
      });
      try {
        const a = ctx.services.alerts;
        const b = new AlertsService(second.db, fixedClock(TEST_NOW));
        const s = signal({ subject: 'concurrent-subject', subjectType: 'code' });
        await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).raise(s)));
        const list = await api.get('/v1/alerts?reason=BAD_SIGNATURE&pageSize=100', supervisor);
        const mine = list.body.items.filter((x: any) => x.subject === 'concurrent-subject');
        expect(mine).toHaveLength(1);
        expect(mine[0].count).toBe(20);
        // opening is audited once, repeats are not
        const audit = await api.get(`/v1/audit?subject=${mine[0].id}`, supervisor);
        expect(audit.body.items.map((e: any) => e.action)).toEqual(['alert.open']);
      } finally {
        await second.close();
      }
    });

    it('verification of a forged credential raises an alert', async () => {
      const verify = await api.post('/v1/verify/certificate', { credential: 'not-a-credential' });
      expect(verify.status).toBe(200);
      expect(verify.body.verdict).toBe('forged');
      const list = await api.get('/v1/alerts?reason=MALFORMED', supervisor);
      expect(list.body.total).toBeGreaterThanOrEqual(1);
      // Not a credential of any published key: counted on the channel, with which one it was.
      const alert = list.body.items.find(
        (a: any) => a.subjectType === 'unattributed' && a.subject === 'verify.certificate',
      );
      expect(alert).toMatchObject({
        severity: 'forged',
        raisedBy: { channel: 'verify.certificate' },
      });
      expect((alert.lastSeenBy ?? alert.raisedBy).context.credentialSha256).toBe(
        createHash('sha256').update('not-a-credential').digest('hex').slice(0, 16),
      );
    });

    it('filters by status, reason, issuer and since, and paginates', async () => {
      const page1 = await api.get('/v1/alerts?status=open&pageSize=1&page=1', supervisor);
      const page2 = await api.get('/v1/alerts?status=open&pageSize=1&page=2', supervisor);
      expect(page1.body).toMatchObject({ page: 1, pageSize: 1 });
      expect(page1.body.total).toBeGreaterThanOrEqual(3);
      expect(page1.body.items[0].id).not.toBe(page2.body.items[0].id);
      expect(page1.body.items[0].severity).toBe('forged');
      const future = await api.get('/v1/alerts?since=2030-01-01', supervisor);
      expect(future.body.total).toBe(0);
      const past = await api.get('/v1/alerts?since=2026-11-24T00:00:00Z', supervisor);
      expect(past.body.total).toBe(page1.body.total);
      const none = await api.get(`/v1/alerts?issuer=${otherIssuer.id}`, supervisor);
      expect(none.body.total).toBe(0);
    });

    it('shows a cloned mark’s latest checks on the supervisor page, where and when', async () => {
      const body = await createIssuer(ctx, { name: 'Clone Hunt Body' });
      const certificate = await issueCertificate(api, body.key);
      const [mark] = (await issueMarks(api, body.key, certificate.id, { count: 1 })).marks;
      for (const region of ['350100', '110105', '440300']) {
        await api.post('/v1/verify/mark', { code: mark!.code, location: { region } });
      }
      await api.post('/v1/verify/mark', {
        code: mark!.code,
        location: { region: '440300', lat: 22.543, lon: 114.058 },
      });
      await ctx.services.markVerification.flushScanLog();
      const page = await api.get('/supervisor?reason=SUSPECTED_CLONE&lang=en', supervisor);
      expect(page.status).toBe(200);
      const row = page.text.slice(page.text.indexOf(`<code>${mark!.serial}</code>`));
      expect(row).toContain('Latest checks');
      const checks = row.slice(row.indexOf('Latest checks'), row.indexOf('Audit history'));
      expect(checks.match(/<div>/g)).toHaveLength(4);
      for (const region of ['350100', '110105', '440300']) expect(checks).toContain(region);
      expect(checks).toContain('22.543, 114.058');
      expect(checks).toContain(`GET /v1/marks/${mark!.serial}/scans`);
    });

    it('files a report by `number` and resolves its alert without a body', async () => {
      const report = await api.post('/v1/reports', {
        number: 'FAKE-CCC-0042',
        description: 'certificate number printed on a charger',
      });
      expect(report.status).toBe(201);
      const alert = await api.get(`/v1/alerts/${report.body.alertId}`, supervisor);
      expect(alert.body).toMatchObject({ subject: 'number:FAKE-CCC-0042', status: 'open' });
      const resolved = await api.call('POST', `/v1/alerts/${report.body.alertId}/resolve`, {
        key: supervisor,
      });
      expect(resolved.status, resolved.text).toBe(200);
      expect(resolved.body).toMatchObject({ status: 'resolved', resolution: { note: null } });
    });

    it('asks which issuer a report means when several use the number, and files it against that certificate', async () => {
      const number = 'SHARED-2026-0007';
      const first = await createIssuer(ctx, { name: 'Shared Number Body A' });
      const second = await createIssuer(ctx, { name: 'Shared Number Body B' });
      const ours = await issueCertificate(api, first.key, { number });
      await issueCertificate(api, second.key, { number });
      const body = { number, description: 'a label on a kettle' };
      const ambiguous = await api.post('/v1/reports', body);
      expect(ambiguous.status, ambiguous.text).toBe(422);
      expect(ambiguous.body.code).toBe('ambiguous_number');
      expect(ambiguous.body.issuers.map((i: { id: string }) => i.id).sort()).toEqual(
        [first.id, second.id].sort(),
      );
      const named = await api.post('/v1/reports', { ...body, issuerId: first.id });
      expect(named.status, named.text).toBe(201);
      const alert = await api.get(`/v1/alerts/${named.body.alertId}`, supervisor);
      expect(alert.body).toMatchObject({ subject: ours.id, issuerId: first.id });
      // Beside a code that is no mark, or a link to no certificate (a counterfeit label's), the
      // report is filed on its own, never as a number nobody holds: its holders are noted.
      for (const beside of [
        { code: 'x' },
        { certificateId: '00000000-0000-4000-8000-000000000000' },
      ]) {
        const filed = await api.post('/v1/reports', { ...body, ...beside });
        expect(filed.status, filed.text).toBe(201);
        const own = await api.get(`/v1/alerts/${filed.body.alertId}`, supervisor);
        expect(own.body).toMatchObject({ subjectType: 'report', issuerId: null });
        expect(own.body.subject).not.toBe(`number:${number}`);
        expect(JSON.stringify(own.body)).toContain(first.id);
        expect(JSON.stringify(own.body)).toContain(second.id);
      }
      // A report that names a certificate link too is filed against it, the number beside it.
      const linked = await api.post('/v1/reports', { ...body, certificateId: ours.id });
      expect(linked.status, linked.text).toBe(201);
      const linkedAlert = await api.get(`/v1/alerts/${linked.body.alertId}`, supervisor);
      expect(linkedAlert.body).toMatchObject({ subject: ours.id, issuerId: first.id });
    });

    it('shows one alert, resolves it with an audit entry, and refuses to resolve it twice', async () => {
      const serial = '5555666677778888';
      await ctx.services.alerts.raise(
        signal({
          subject: serial,
          verdict: 'suspicious',
          reasons: [{ code: 'SUSPECTED_CLONE', message: 'x' }],
        }),
      );
      const openCloneAlerts = async () =>
        (
          await api.get('/v1/alerts?reason=SUSPECTED_CLONE&status=open&pageSize=100', supervisor)
        ).body.items.filter((a: { subject: string }) => a.subject === serial);
      expect(await openCloneAlerts()).toHaveLength(1);
      const [alert] = await openCloneAlerts();
      const one = await api.get(`/v1/alerts/${alert.id}`, supervisor);
      expect(one.status).toBe(200);
      expect(one.body).toMatchObject({ id: alert.id, reports: [] });

      ctx.clock.advance(60_000);
      // Resolving a suspected clone clears the mark's flag through the marks feature.
      const cleared: unknown[][] = [];
      ctx.services.alerts.setCloneClearer({
        clearSuspectedClone: async (...args) => (cleared.push(args), true),
      });
      const resolved = await api.post(
        `/v1/alerts/${alert.id}/resolve`,
        { note: 'checked on site: genuine, reseller scans' },
        supervisor,
      );
      ctx.services.alerts.setCloneClearer(ctx.services.marks);
      expect(resolved.status).toBe(200);
      expect(cleared).toEqual([[serial, { keyId: expect.any(String), role: 'supervisor' }]]);
      expect(resolved.body).toMatchObject({
        status: 'resolved',
        resolution: { note: 'checked on site: genuine, reseller scans' },
      });
      expect(await openCloneAlerts()).toEqual([]);

      const again = await api.post(`/v1/alerts/${alert.id}/resolve`, { note: 'again' }, supervisor);
      expect(again.status).toBe(409);
      expect(again.headers.get('content-type')).toContain('application/problem+json');
      expect(again.body.code).toBe('alert_already_resolved');

      const audit = await api.get(`/v1/audit?subject=${alert.id}`, supervisor);
      expect(audit.body.items.map((e: any) => e.action)).toEqual(['alert.resolve', 'alert.open']);
      expect(audit.body.items[0].change).toMatchObject({
        note: 'checked on site: genuine, reseller scans',
      });

      // A new finding after the resolution opens a new alert.
      await ctx.services.alerts.raise(
        signal({
          subject: serial,
          verdict: 'suspicious',
          reasons: [{ code: 'SUSPECTED_CLONE', message: 'y' }],
        }),
      );
      expect(await openCloneAlerts()).toHaveLength(1);
      ctx.clock.set(TEST_NOW);
    });

    it('answers 404 and 400 as problem+json', async () => {
      expect(
        (await api.get('/v1/alerts/00000000-0000-4000-8000-000000000000', supervisor)).status,
      ).toBe(404);
      expect(
        (
          await api.post(
            '/v1/alerts/00000000-0000-4000-8000-000000000000/resolve',
            { note: 'x' },
            supervisor,
          )
        ).status,
      ).toBe(404);
      const badId = await api.get('/v1/alerts/not-a-uuid', supervisor);
      expect(badId.status).toBe(400);
      expect(badId.body.code).toBe('validation_failed');
      for (const query of [
        'status=closed',
        'reason=EXPIRED',
        'issuer=x',
        'since=yesterday',
        'since=2026-02-30', // not a day (the Date parser reads it as 2 March)
        'since=2026-02-29T08:00:00Z',
        'page=0',
        'page=0x2',
        'pageSize=1e1',
        'pageSize=1000',
      ]) {
        const res = await api.get(`/v1/alerts?${query}`, supervisor);
        expect(res.status, query).toBe(400);
      }
      // Left empty, an optional parameter is not given (a form's blank field).
      const blank = await api.get('/v1/alerts?page=&status=&reason=', supervisor);
      expect(blank.status).toBe(200);
      expect(blank.body.page).toBe(1);
      // One error a bad instant, the one that applies (it was also "must be between 1900-01-01
      // and 9999-12-31"); an offset's + sent bare reads as a space in a query string.
      for (const [query, message] of [
        ['since=yesterday', 'must be a date or an ISO 8601 instant'],
        [
          'since=2026-11-24T08:00:00+08:00',
          'a + in an offset is sent as %2B in a query string (a bare + reads as a space)',
        ],
        // Read in the server's own time zone, it named no moment (outside probe).
        [
          'since=2026-11-24T08:00:00',
          'an instant needs its offset: Z or +08:00 (sent as %2B08:00)',
        ],
      ]) {
        const res = await api.get(`/v1/alerts?${query}`, supervisor);
        expect(res.body.errors, query).toEqual([{ path: 'query.since', message }]);
      }
      const escaped = await api.get('/v1/alerts?since=2026-11-24T08:00:00%2B08:00', supervisor);
      expect(escaped.status).toBe(200);
      const list = await api.get('/v1/alerts?pageSize=1', supervisor);
      const id = list.body.items[0].id;
      for (const body of [{ note: '' }, { note: 'x'.repeat(2001) }, { note: 'ok', extra: 1 }]) {
        expect((await api.post(`/v1/alerts/${id}/resolve`, body, supervisor)).status).toBe(400);
      }
      expect((await api.post(`/v1/alerts/${id}/resolve`, '{not json', supervisor)).status).toBe(
        400,
      );
    });

    it('is for supervisors only', async () => {
      const id = '00000000-0000-4000-8000-000000000000';
      for (const [method, path] of [
        ['GET', '/v1/alerts'],
        ['GET', `/v1/alerts/${id}`],
        ['POST', `/v1/alerts/${id}/resolve`],
        ['GET', '/v1/audit'],
        ['POST', '/v1/inspections/draws'],
      ] as const) {
        const body = method === 'POST' ? {} : undefined;
        expect((await api.call(method, path, { body })).status, `${method} ${path} anonymous`).toBe(
          401,
        );
        for (const key of [ctx.adminKey, issuer.key, customs]) {
          expect((await api.call(method, path, { key, body })).status, `${method} ${path}`).toBe(
            403,
          );
        }
        expect((await api.call(method, path, { key: 'cm_unknown', body })).status).toBe(401);
      }
    });
  });

  describe('reports', () => {
    it('files a report against a registered certificate and counts reports on one alert', async () => {
      const certificate = await issueCertificate(api, issuer.key);
      const first = await api.post('/v1/reports', {
        certificateNumber: certificate.number,
        description: '包装上的证书号查不到对应产品',
        region: '350100',
        contact: 'buyer@example.com',
      });
      expect(first.status).toBe(201);
      expect(first.body).toEqual({ id: expect.any(String), alertId: expect.any(String) });
      // A second later (reports of one instant have no order between them).
      const before = ctx.clock.now();
      ctx.clock.set(new Date(before.getTime() + 1000).toISOString());
      const second = await api.post('/v1/reports', {
        certificateNumber: certificate.number,
        description: 'same again',
        region: '440300',
      });
      expect(second.body.alertId).toBe(first.body.alertId);
      ctx.clock.set(before.toISOString());

      const alert = await api.get(`/v1/alerts/${first.body.alertId}`, supervisor);
      expect(alert.body).toMatchObject({
        subjectType: 'certificate',
        subject: certificate.id,
        reason: 'REPORTED',
        severity: 'suspicious',
        count: 2,
        regions: ['350100', '440300'],
        issuerId: issuer.id,
        certificateId: certificate.id,
      });
      expect(alert.body.reports.map((r: any) => r.description)).toEqual([
        '包装上的证书号查不到对应产品',
        'same again',
      ]);
      expect(alert.body.reports[0].contact).toBe('buyer@example.com');

      const audit = await api.get(`/v1/audit?subject=${first.body.id}`, supervisor);
      expect(audit.body.items[0]).toMatchObject({
        action: 'report.create',
        subjectType: 'report',
        actorRole: 'system',
      });
      expect(JSON.stringify(audit.body.items[0].change)).not.toContain('buyer@example.com');
    });

    it('shows an alert’s latest reports and how many there are, however many are filed', async () => {
      // Anyone may report: 3,000 reports on one alert made its detail and the console 18.6 MB.
      const certificate = await issueCertificate(api, issuer.key);
      const filed = await ctx.services.reports.fileReport({
        certificateNumber: certificate.number,
        description: 'report 0',
      });
      const at = ctx.clock.now().getTime();
      await ctx.handle.db.execute(sql`
        INSERT INTO reports (id, description, subject_type, subject, alert_id, created_at)
        SELECT gen_random_uuid(), 'report ' || g, 'certificate', ${certificate.id}, ${filed.alertId}::uuid,
          ${new Date(at).toISOString()}::timestamptz + g * interval '1 second'
        FROM generate_series(1, 250) AS g`);
      const alert = await api.get(`/v1/alerts/${filed.alertId}`, supervisor);
      expect(alert.body.reportCount).toBe(251);
      expect(alert.body.reports).toHaveLength(100);
      expect(alert.body.reports[0].description).toBe('report 151');
      expect(alert.body.reports.at(-1).description).toBe('report 250');
      const shown = await ctx.services.alerts.reportsOf([filed.alertId]);
      expect(shown.map((r) => r.description)).toEqual([
        'report 246',
        'report 247',
        'report 248',
        'report 249',
        'report 250',
      ]);
      // The console shows those five, says how many there are, and where the rest are read.
      const page = await api.get('/supervisor?reason=REPORTED&status=all&lang=en', supervisor);
      const row = page.text.slice(page.text.indexOf(`data-alert-id="${filed.alertId}"`));
      const reports = row.slice(row.indexOf('<dt>Reports</dt>'), row.indexOf('Audit history'));
      expect(reports.match(/report \d+/g)).toEqual(shown.map((r) => r.description));
      expect(reports).toMatch(/The latest 5 of 251:\s*<code>GET \/v1\/alerts\//);
      expect(
        (await ctx.services.alerts.reportCountsOf([filed.alertId, certificate.id])).get(
          filed.alertId,
        ),
      ).toBe(251);
    });

    it('files a report naming a mark serial against the mark, and an unknown code against itself', async () => {
      const serial = '1234567890123456'.slice(0, 14);
      // a serial with valid ISO 7064 MOD 97-10 check digits
      const { serialCheckDigits } = await import('../../src/crypto/serial');
      const full = serial + serialCheckDigits(serial);
      const byMark = await api.post('/v1/reports', {
        code: full,
        description: 'label looks photocopied',
      });
      expect(byMark.status).toBe(201);
      expect((await api.get(`/v1/alerts/${byMark.body.alertId}`, supervisor)).body).toMatchObject({
        subjectType: 'mark',
        subject: full,
      });

      const unknown = await api.post('/v1/reports', {
        code: 'https://example.com/whatever',
        description: 'odd QR code',
      });
      expect(unknown.status).toBe(201);
      expect((await api.get(`/v1/alerts/${unknown.body.alertId}`, supervisor)).body).toMatchObject({
        subjectType: 'report',
        subject: unknown.body.id,
      });

      const unregistered = await api.post('/v1/reports', {
        certificateNumber: 'NO-SUCH-NUMBER',
        description: 'fake number',
      });
      expect(
        (await api.get(`/v1/alerts/${unregistered.body.alertId}`, supervisor)).body,
      ).toMatchObject({ subjectType: 'code', subject: 'number:NO-SUCH-NUMBER' });
    });

    it('takes a report as a consumer’s app may send it: words optional, a location, fields it does not keep', async () => {
      const shared = await issueCertificate(api, issuer.key, { number: 'SHARED-0001' });
      const second = await createIssuer(ctx, { name: 'Second Reporting Body' });
      await issueCertificate(api, second.key, { number: 'SHARED-0001' });
      const res = await api.post('/v1/reports', {
        number: 'SHARED-0001',
        issuerId: issuer.id,
        message: 'sold on a market stall',
        location: { region: '350100', lat: 26.07, lon: 119.3 },
        photos: ['ignored.jpg'],
      });
      expect(res.status, res.text).toBe(201);
      const alert = (await api.get(`/v1/alerts/${res.body.alertId}`, supervisor)).body;
      expect(alert).toMatchObject({
        subjectType: 'certificate',
        subject: shared.id,
        issuerId: issuer.id,
        regions: ['350100'],
        raisedBy: { context: { lat: 26.07, lon: 119.3 } },
        reports: [{ id: res.body.id, description: 'sold on a market stall' }],
      });
      const bare = await api.post('/v1/reports', { code: '1234567890123456' });
      expect(bare.status, bare.text).toBe(201);
      // By the certificate's id (its page's link), or in words alone.
      const byId = await api.post('/v1/reports', { certificateId: shared.id });
      expect((await api.get(`/v1/alerts/${byId.body.alertId}`, supervisor)).body).toMatchObject({
        subjectType: 'certificate',
        subject: shared.id,
      });
      const words = await api.post('/v1/reports', { description: 'fake chargers at a market' });
      expect(words.status, words.text).toBe(201);
      expect((await api.get(`/v1/alerts/${words.body.alertId}`, supervisor)).body).toMatchObject({
        subjectType: 'report',
        subject: words.body.id,
      });
    });

    it('refuses bad reports with field errors and writes nothing', async () => {
      const before = (
        await api.get('/v1/alerts?reason=REPORTED&status=open&pageSize=100', supervisor)
      ).body.total;
      const cases: [unknown, string][] = [
        [{}, 'code'],
        [{ contact: 'me@example.com' }, 'code'],
        [{ certificateId: 'nope', description: 'x' }, 'certificateId'],
        [{ code: 'x', description: '' }, 'description'],
        [{ code: 'x', description: 'd'.repeat(2001) }, 'description'],
        [{ code: 'x', description: 'ok', region: '990000' }, 'region'],
        [{ code: 'x', description: 'ok', region: '3501' }, 'region'],
        [{ code: 'x', description: 'ok', contact: 'c'.repeat(201) }, 'contact'],
        [{ code: 'x', location: { region: '990000' } }, 'location.region'],
        [{ code: 'x', location: { lat: 10 } }, 'location.lat'],
        [{ code: 'x', issuerId: 'not-an-id', number: 'N' }, 'issuerId'],
        // An alias that disagrees with its name.
        [{ number: 'A-1', certificateNumber: 'B-2' }, 'number'],
        [{ code: 'x', message: 'one thing', description: 'another' }, 'message'],
        [{ code: 'x', region: '350100', location: { region: '110000' } }, 'region'],
      ];
      for (const [body, path] of cases) {
        const res = await api.post('/v1/reports', body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.code).toBe('validation_failed');
        expect(res.body.errors.map((e: any) => e.path)).toContain(path);
      }
      expect((await api.post('/v1/reports', '[')).status).toBe(400);
      expect(
        (await api.get('/v1/alerts?reason=REPORTED&status=open&pageSize=100', supervisor)).body
          .total,
      ).toBe(before);
      // An alias that agrees with its name is the same report.
      const agreeing = await api.post('/v1/reports', {
        code: '1234567890123456',
        message: 'same words',
        description: 'same words',
        region: '350100',
        location: { region: '350100' },
      });
      expect(agreeing.status, agreeing.text).toBe(201);
    });
  });

  describe('audit log', () => {
    it('lists entries newest first with changes, filtered by subject and since (supervisor)', async () => {
      const all = await api.get('/v1/audit?pageSize=5', supervisor);
      expect(all.status).toBe(200);
      expect(all.body.total).toBeGreaterThan(5);
      const seqs = all.body.items.map((e: any) => e.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => b - a));
      expect(all.body.items[0]).toHaveProperty('change');
      const issuerEntries = await api.get(`/v1/audit?subject=${issuer.id}`, supervisor);
      expect(issuerEntries.body.items.map((e: any) => e.action)).toContain('issuer.create');
      expect((await api.get('/v1/audit?since=2031-01-01', supervisor)).body.total).toBe(0);
      expect((await api.get('/v1/audit?since=nope', supervisor)).status).toBe(400);
    });

    it('filters by subjectId, the entries’ own name for it, as by subject; a misspelt filter is a 400', async () => {
      const bySubject = await api.get(`/v1/audit?subject=${issuer.id}`, supervisor);
      const bySubjectId = await api.get(`/v1/audit?subjectId=${issuer.id}`, supervisor);
      expect(bySubjectId.status).toBe(200);
      expect(bySubjectId.body.total).toBeGreaterThan(0);
      expect(bySubjectId.body).toEqual(bySubject.body);
      expect(bySubjectId.body.items.every((e: any) => e.subjectId === issuer.id)).toBe(true);
      const both = await api.get(
        `/v1/audit?subjectId=${issuer.id}&subject=${issuer.id}`,
        supervisor,
      );
      expect(both.body).toEqual(bySubject.body);
      const clash = await api.get(`/v1/audit?subjectId=${issuer.id}&subject=other`, supervisor);
      expect(clash.status).toBe(400);
      expect(clash.body.errors).toEqual([
        { path: 'query.subject', message: 'names another subject than subjectId' },
      ]);
      const misspelt = await api.get(`/v1/audit?subjectID=${issuer.id}`, supervisor);
      expect(misspelt.status).toBe(400);
      expect(misspelt.body.errors.map((e: any) => e.path)).toEqual(['query.subjectID']);
    });
  });

  it('records who signed an issuer’s suspension and reinstatement (谁签字,谁担责)', async () => {
    const subject = await createIssuer(ctx, { name: 'Hainan Signatory Certification Co.' });
    const signatory = { name: '王五', title: 'Market supervision decision maker' };
    const suspend = await api.post(
      `/v1/issuers/${subject.id}/status`,
      { status: 'suspended', reason: 'forged test reports', signatory },
      supervisor,
    );
    expect(suspend.status).toBe(200);
    // Naming nobody stays allowed; a signatory must be a person (a name), nothing more.
    const reinstate = await api.post(
      `/v1/issuers/${subject.id}/status`,
      { status: 'active' },
      supervisor,
    );
    expect(reinstate.status).toBe(200);
    const entries = await api.get(
      `/v1/audit?subject=${subject.id}&action=issuer.status`,
      supervisor,
    );
    expect(entries.body.items.map((e: any) => [e.change.to, e.signatory])).toEqual([
      ['active', null],
      ['suspended', signatory],
    ]);
    for (const bad of [{ title: 'no name' }, { name: ' ' }, { name: 'x', seal: 'y' }]) {
      const refused = await api.post(
        `/v1/issuers/${subject.id}/status`,
        { status: 'suspended', signatory: bad },
        supervisor,
      );
      expect(refused.status, JSON.stringify(bad)).toBe(400);
    }
    expect((await api.get(`/v1/issuers/${subject.id}`, supervisor)).body.status).toBe('active');
  });

  describe('random inspection draws', () => {
    let candidateIds: string[];

    beforeAll(async () => {
      // Five ORGANIC certificates in Fuzhou (3501xx), two in Shenzhen (440300), one expired.
      const fuzhou = ['3501000', '3501001', '3501002', '3501003', '3501004'].map((org) =>
        usccIn('350102', `${org}5`),
      );
      candidateIds = [];
      for (const uscc of fuzhou) {
        const cert = await issueCertificate(api, issuer.key, {
          scheme: 'ORGANIC',
          holder: { name: `Fuzhou Tea Co. ${uscc.slice(-4)}`, uscc },
          manufacturer: { name: 'Fuzhou Tea', uscc },
          factories: [{ name: 'Tea garden', uscc }],
        });
        candidateIds.push(cert.id);
      }
      await issueCertificate(api, issuer.key, { scheme: 'ORGANIC' });
      await issueCertificate(api, issuer.key, {
        scheme: 'ORGANIC',
        holder: { name: 'SZ', uscc: USCC.other },
      });
      await issueCertificate(api, issuer.key, {
        scheme: 'ORGANIC',
        holder: { name: 'Old', uscc: usccIn('350102', '35019995') },
        validFrom: '2019-01-01',
        validUntil: '2020-01-01',
      });
      candidateIds.sort();
    });

    it('commits to the seed, draws reproducibly from the published lists, and publishes the draw', async () => {
      const res = await api.post(
        '/v1/inspections/draws',
        {
          filter: { scheme: 'ORGANIC', region: '3501' },
          certificateCount: 3,
          inspectors: ['王五', '李四', '张三', '赵六'],
          inspectorCount: 2,
        },
        supervisor,
      );
      expect(res.status).toBe(201);
      const draw = res.body;
      expect(draw).toMatchObject({
        algorithm: 'certmark-draw/v1',
        status: 'drawn',
        candidatesCount: 5,
        certificateCount: 3,
        inspectorCount: 2,
      });
      expect(draw.candidates).toEqual(candidateIds);
      expect(draw.inspectors).toEqual(['张三', '李四', '王五', '赵六'].sort());
      expect(draw.commitment).toBe(drawCommitment(Buffer.from(draw.seed, 'hex')));
      expect(draw.seed).toMatch(/^[0-9a-f]{64}$/);

      const recomputed = recomputeDraw(draw.seed, draw.candidates, draw.inspectors, 3, 2);
      expect(draw.selectedCertificates.map((c: any) => c.id)).toEqual(recomputed.certificates);
      expect(draw.selectedInspectors).toEqual(recomputed.inspectors);
      expect(new Set(recomputed.certificates).size).toBe(3);
      for (const c of draw.selectedCertificates) {
        expect(c.number).toMatch(/^\d+$/);
        expect(c.holder.name).toMatch(/^Fuzhou Tea Co\./);
        expect(c.issuer).toEqual({ id: issuer.id, name: 'China Quality Certification Centre' });
      }

      // Other seeds give other results: 3 of 5 certificates and 2 of 4 inspectors have only 60
      // outcomes, so one other seed repeats this draw 1 time in 60; five all repeating it, about
      // once in 10^9.
      const otherSeeds = [1, 2, 3, 4, 5].map((i) =>
        createHash('sha256').update(`${draw.seed}/${i}`).digest('hex'),
      );
      expect(
        otherSeeds.some(
          (seed) =>
            JSON.stringify(recomputeDraw(seed, draw.candidates, draw.inspectors, 3, 2)) !==
            JSON.stringify(recomputed),
        ),
      ).toBe(true);
      const otherSeed = otherSeeds[0]!;
      expect(recomputeDraw(otherSeed, draw.candidates, draw.inspectors, 3, 2)).toEqual(
        recomputeDraw(otherSeed, draw.candidates, draw.inspectors, 3, 2),
      );

      // Public: the list and the draw, no key needed.
      const published = await api.get(`/v1/inspections/draws/${draw.id}`);
      expect(published.status).toBe(200);
      expect(published.body).toEqual(draw);
      const list = await api.get('/v1/inspections/draws');
      expect(list.body.items[0]).toMatchObject({
        id: draw.id,
        candidatesCount: 5,
        seed: draw.seed,
      });
      expect(list.body.items[0].candidates).toBeUndefined();

      // The commitment was audited before the draw.
      const audit = await api.get(`/v1/audit?subject=${draw.id}`, supervisor);
      const [drawn, committed] = audit.body.items;
      expect(committed).toMatchObject({
        action: 'inspection.commit',
        change: { commitment: draw.commitment },
      });
      expect(drawn).toMatchObject({
        action: 'inspection.draw',
        change: { seed: draw.seed, candidatesCount: 5 },
      });
      expect(committed.seq).toBeLessThan(drawn.seq);
    });

    it('publishes its inspector pool in code point order, as other languages sort it', async () => {
      // U+FA11, U+FF2C and U+20BB7: JavaScript's own comparison put the last one first.
      const draw = await api.post(
        '/v1/inspections/draws',
        {
          certificateCount: 1,
          inspectors: ['𠮷田', 'Ｌｉ', '﨑山', 'Zhang'],
          inspectorCount: 1,
        },
        supervisor,
      );
      expect(draw.status, draw.text).toBe(201);
      const byCodePoint = (names: string[]) =>
        [...names].sort((x, y) => {
          const [a, b] = [
            [...x].map((c) => c.codePointAt(0)!),
            [...y].map((c) => c.codePointAt(0)!),
          ];
          for (let i = 0; i < Math.min(a.length, b.length); i++)
            if (a[i] !== b[i]) return a[i]! - b[i]!;
          return a.length - b.length;
        });
      expect(draw.body.inspectors).toEqual(['Zhang', '﨑山', 'Ｌｉ', '𠮷田']);
      expect(byCodePoint(draw.body.inspectors)).toEqual(draw.body.inspectors);
    });

    it('draws all candidates when fewer than asked, and none from an empty filter', async () => {
      const all = await api.post(
        '/v1/inspections/draws',
        {
          filter: { issuerId: issuer.id, region: '350102', scheme: 'ORGANIC' },
          certificateCount: 50,
          inspectors: ['A', 'B'],
          inspectorCount: 2,
        },
        supervisor,
      );
      expect(all.status).toBe(201);
      expect([...all.body.selectedCertificates.map((c: any) => c.id)].sort()).toEqual(candidateIds);
      const none = await api.post(
        '/v1/inspections/draws',
        {
          filter: { issuerId: otherIssuer.id },
          certificateCount: 5,
          inspectors: ['A'],
          inspectorCount: 1,
        },
        supervisor,
      );
      expect(none.body).toMatchObject({
        candidatesCount: 0,
        selectedCertificates: [],
        selectedInspectors: ['A'],
      });
    });

    it('refuses bad draws', async () => {
      const base = { filter: {}, certificateCount: 1, inspectors: ['A'], inspectorCount: 1 };
      for (const body of [
        { ...base, certificateCount: 0 },
        { ...base, inspectorCount: 2 },
        { ...base, inspectors: ['A', 'A'], inspectorCount: 2 },
        { ...base, inspectors: [] },
        { ...base, filter: { region: '350' } },
        { ...base, filter: { region: '990100' } },
        { ...base, filter: { scheme: 'NOPE' } },
        { ...base, filter: { issuerId: 'x' } },
        { ...base, extra: 1 },
      ]) {
        const res = await api.post('/v1/inspections/draws', body, supervisor);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.headers.get('content-type')).toContain('application/problem+json');
      }
      expect(
        (await api.get('/v1/inspections/draws/00000000-0000-4000-8000-000000000000')).status,
      ).toBe(404);
      expect((await api.get('/v1/inspections/draws/nope')).status).toBe(400);
    });
  });
});
