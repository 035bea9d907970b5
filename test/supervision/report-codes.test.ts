import fs from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, createTestContext, type Client, type TestContext } from '../helpers';
import { createIssuer, createRoleKey, issueCertificate } from '../fixtures';
import { issueMarks, type IssuedMark } from '../marks/mark-helpers';

/**
 * SPEC "Product marks": only the owning issuer can obtain a mark's code, for whoever holds one can
 * print copies of it. A consumer who reports a product sends what their phone scanned — often a
 * genuine mark's URL — and supervisors see the report and its alert: they get the mark's serial
 * and at most the code's first 8 characters (red team: the whole code reached them).
 */
describe('mark codes in reports and alerts', () => {
  let ctx: TestContext;
  let api: Client;
  let supervisor: string;
  let mark: IssuedMark;
  let other: IssuedMark;
  let issuerId: string;
  let certificateId: string;

  /** The part of a code past the prefix a supervisor may see, in either letter case. */
  const secretPart = (code: string) => code.slice(8, 40).toLowerCase();
  const expectNoCode = (text: string, code: string) =>
    expect(text.toLowerCase()).not.toContain(secretPart(code));

  beforeAll(async () => {
    ctx = await createTestContext();
    api = client(ctx.app);
    supervisor = await createRoleKey(ctx, 'supervisor');
    const issuer = await createIssuer(ctx);
    const certificate = await issueCertificate(api, issuer.key);
    issuerId = issuer.id;
    certificateId = certificate.id;
    [mark, other] = (await issueMarks(api, issuer.key, certificate.id, { count: 2 })).marks as [
      IssuedMark,
      IssuedMark,
    ];
  });
  afterAll(async () => ctx.close());

  it('a report of a genuine code shows supervisors the serial, never the code', async () => {
    const first = await api.post('/v1/reports', { code: mark.code, description: 'fake' });
    expect(first.status, first.text).toBe(201);
    // Again, by the URL in lower case with the code pasted into the words too: the latest finding
    // (a second later: reports of one instant have no order between them).
    const url = mark.url.toLowerCase();
    const before = ctx.clock.now();
    ctx.clock.advance(1000);
    const second = await api.post('/v1/reports', {
      code: url,
      description: `scanned ${mark.url} and it looks photocopied`,
      contact: `buyer, label ${mark.code}`,
    });
    ctx.clock.set(before);
    expect(second.body.alertId).toBe(first.body.alertId);

    const alert = await api.get(`/v1/alerts/${first.body.alertId}`, supervisor);
    expect(alert.status).toBe(200);
    expect(alert.body).toMatchObject({
      subjectType: 'mark',
      subject: mark.serial,
      // The registered mark links the alert to its certificate and issuer.
      issuerId,
      certificateId,
      count: 2,
      raisedBy: { context: { code: `${mark.code.slice(0, 8)}…` } },
      lastSeenBy: { context: { code: `https://certmark.test/m/${url.slice(-120, -112)}…` } },
      reports: [
        { id: first.body.id, serial: mark.serial, code: `${mark.code.slice(0, 8)}…` },
        {
          id: second.body.id,
          serial: mark.serial,
          code: `https://certmark.test/m/${url.slice(-120, -112)}…`,
          description: `scanned https://certmark.test/m/${mark.code.slice(0, 8)}… and it looks photocopied`,
          contact: `buyer, label ${mark.code.slice(0, 8)}…`,
        },
      ],
    });
    expectNoCode(alert.text, mark.code);

    const list = await api.get('/v1/alerts?reason=REPORTED&pageSize=100', supervisor);
    expect(list.text).toContain(mark.serial);
    const ofIssuer = await api.get(`/v1/alerts?reason=REPORTED&issuer=${issuerId}`, supervisor);
    expect(ofIssuer.body.items.map((a: { id: string }) => a.id)).toContain(first.body.alertId);
    expectNoCode(list.text, mark.code);

    const page = await api.get('/supervisor?reason=REPORTED&lang=en', supervisor);
    expect(page.status).toBe(200);
    expect(page.text).toContain(`<code>${mark.serial}</code>`);
    expectNoCode(page.text, mark.code);
  });

  it('a report of a code that does not decode keeps its prefix, not the code', async () => {
    // One character short, and spelt in percent escapes: not a mark, but nearly a whole code.
    const short = other.code.slice(0, -1);
    const escaped = [...other.code].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('');
    for (const code of [short, escaped]) {
      const res = await api.post('/v1/reports', { code, description: 'odd label' });
      expect(res.status, res.text).toBe(201);
      const alert = await api.get(`/v1/alerts/${res.body.alertId}`, supervisor);
      expect(alert.body).toMatchObject({
        raisedBy: { context: { code: `${other.code.slice(0, 8)}…` } },
        reports: [{ code: `${other.code.slice(0, 8)}…`, description: 'odd label' }],
      });
      expectNoCode(alert.text, other.code);
    }
  });

  it('a report of a code written in groups is filed against its mark and keeps its prefix', async () => {
    // As a consumer types it off a photo, or a prober writes it to get past the cut (red team:
    // 20-character groups reached supervisors whole, and the report named no mark).
    for (const separator of [' ', '\n', '.', ' - ']) {
      const grouped = other.code.match(/.{1,20}/g)!.join(separator);
      const res = await api.post('/v1/reports', { code: grouped, description: `x${separator}y` });
      expect(res.status, res.text).toBe(201);
      const alert = await api.get(`/v1/alerts/${res.body.alertId}`, supervisor);
      expect(alert.body).toMatchObject({ subjectType: 'mark', subject: other.serial });
      expect(alert.body.reports.at(-1)).toMatchObject({
        serial: other.serial,
        code: `${other.code.slice(0, 8)}…`,
      });
      expectNoCode(alert.text, other.code);
    }
  });

  it('verifications that raise alerts keep no code', async () => {
    const misused = await api.post('/v1/verify/mark', {
      code: mark.url,
      product: { model: 'NOT-A-COVERED-MODEL-42' },
      presenter: { uscc: '91350100M000100Y43' },
    });
    expect(misused.body.verdict).toBe('misused');
    await ctx.services.markVerification.flushScanLog();
    const list = await api.get('/v1/alerts?reason=OUT_OF_SCOPE', supervisor);
    expect(list.body.items).toHaveLength(1);
    expect(list.text).toContain(mark.serial);
    expectNoCode(list.text, mark.code);
  });

  it('no table keeps a mark code: alerts, reports, scans, audit, events', async () => {
    const db = new pg.Client({ connectionString: ctx.databaseUrl });
    await db.connect();
    try {
      const { rows: tables } = await db.query<{ name: string }>(
        `SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables
         WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`,
      );
      expect(tables.map((t) => t.name)).toContain('public.reports');
      for (const { name } of tables) {
        for (const code of [mark.code, other.code]) {
          const { rows } = await db.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM ${name} AS t WHERE t::text ILIKE $1`,
            [`%${secretPart(code)}%`],
          );
          expect(rows[0]!.n, `${name} holds a mark code`).toBe(0);
        }
      }
    } finally {
      await db.end();
    }
  });

  it('migration 0022 cuts the codes reports and alerts stored before', async () => {
    const db = new pg.Client({ connectionString: ctx.databaseUrl });
    await db.connect();
    try {
      const certificateUrl = 'https://certmark.test/c/0b7f3c1e-5a2d-4e8f-9c61-2d3e4f5a6b7c';
      const {
        rows: [alert],
      } = await db.query<{ id: string }>(
        `INSERT INTO alerts (subject_type, subject, reason, severity, status, count, first_seen,
                             last_seen, regions, channel, verdict, reasons, context,
                             last_channel, last_context)
         VALUES ('mark', $1, 'REPORTED', 'suspicious', 'resolved', 2, now(), now(), '{}', 'report',
                 'reported', '[]', $2, 'report', $3)
         RETURNING id`,
        [
          other.serial,
          { reportId: 'r1', code: other.code, certificateNumber: 'CN-1' },
          { code: certificateUrl, lat: 1 },
        ],
      );
      const {
        rows: [report],
      } = await db.query<{ id: string }>(
        `INSERT INTO reports (code, description, contact, subject_type, subject, alert_id, created_at)
         VALUES ($1, $2, $2, 'mark', $3, $4, now()) RETURNING id`,
        [other.url, `see ${other.url}`, other.serial, alert!.id],
      );

      const migration = fs.readFileSync('migrations/0022_redact_mark_codes.sql', 'utf8');
      for (const statement of migration.split('--> statement-breakpoint'))
        await db.query(statement);

      const prefix = `${other.code.slice(0, 8)}…`;
      const { rows: alerts } = await db.query(
        'SELECT context, last_context FROM alerts WHERE id = $1',
        [alert!.id],
      );
      expect(alerts[0]).toEqual({
        context: { reportId: 'r1', code: prefix, certificateNumber: 'CN-1' },
        last_context: { code: certificateUrl, lat: 1 },
      });
      const { rows: reports } = await db.query(
        'SELECT code, description, contact FROM reports WHERE id = $1',
        [report!.id],
      );
      expect(reports[0]).toEqual({
        code: `https://certmark.test/m/${prefix}`,
        description: `see https://certmark.test/m/${prefix}`,
        contact: `see https://certmark.test/m/${prefix}`,
      });
    } finally {
      await db.end();
    }
  });
});
