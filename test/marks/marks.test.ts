import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'drizzle-orm';
import jsQR from 'jsqr';
import { PNG } from 'pngjs';
import QRCode from 'qrcode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMarkCode, decodeMarkCode } from '../../src/crypto/mark-code';
import { generateSerial, hasValidSerialCheckDigits } from '../../src/crypto/serial';
import { deriveMarkSerialKey, MarkSerialCipher } from '../../src/crypto/mark-serial-cipher';
import { createApp, createServices, type Services } from '../../src/app';
import { fixedClock } from '../../src/clock';
import { loadConfig } from '../../src/config';
import { openDatabase, rowsOf, type DatabaseHandle } from '../../src/db/client';
import { findCurrentSigningKey } from '../../src/issuers/issuers.queries';
import { markQrSegments } from '../../src/marks/mark-qr';
import {
  client,
  createTestContext,
  testKeys,
  TEST_NOW,
  type Client,
  type TestContext,
} from '../helpers';
import {
  createIssuer,
  createRoleKey,
  issueCertificate,
  USCC,
  type IssuerFixture,
} from '../fixtures';
import {
  exportMarks,
  issueMarks,
  setBatchStatus,
  tamperCode,
  type IssuedMark,
} from './mark-helpers';

const run = promisify(execFile);

describe('product marks', () => {
  let ctx: TestContext;
  let api: Client;
  let issuer: IssuerFixture;
  let otherIssuer: IssuerFixture;
  let supervisorKey: string;
  let cert: { id: string; number: string };
  let batch: { batchId: string; marks: IssuedMark[] };

  const verify = (body: Record<string, unknown>, key?: string) =>
    api.post('/v1/verify/mark', body, key);
  const auditActions = async (subjectId: string) =>
    rowsOf<{ action: string }>(
      await ctx.handle.db.execute(
        sql`SELECT action FROM audit_log WHERE subject_id = ${subjectId} ORDER BY id`,
      ),
    ).map((r) => r.action);
  /** A code for `serial` signed with the issuer's current key, whether or not the mark exists. */
  const signWith = async (issuerId: string, serial: string) => {
    const key = await findCurrentSigningKey(ctx.handle.db, issuerId);
    const signer = ctx.services.vault.signerFromRow(key!);
    return createMarkCode({ seed: signer.seed, kid: signer.kid, serial });
  };

  /** The service's serial cipher (its key derives from the test's KEK). */
  const markSerials = () => new MarkSerialCipher(deriveMarkSerialKey(ctx.keys.kek));
  const batchNumber = async (batchId: string) =>
    Number(
      rowsOf<{ number: string }>(
        await ctx.handle.db.execute(
          sql`SELECT number FROM mark_batches WHERE id = ${batchId}::uuid`,
        ),
      )[0]!.number,
    );

  beforeAll(async () => {
    ctx = await createTestContext();
    api = client(ctx.app);
    issuer = await createIssuer(ctx);
    otherIssuer = await createIssuer(ctx, { name: 'Other Certification Body' });
    supervisorKey = await createRoleKey(ctx, 'supervisor');
    cert = await issueCertificate(api, issuer.key);
    batch = await issueMarks(api, issuer.key, cert.id, { count: 5, model: 'X1-100', lot: 'LOT-7' });
  });
  afterAll(async () => {
    await ctx.services.marks.close();
    await ctx.services.markVerification.close();
    await ctx.close();
  });

  describe('issuing', () => {
    it('issues no more marks for a CCC exemption than the units it covers, counted across batches and at once', async () => {
      // 20 signed marks for an exemption of 5 units all verified authentic (outside probe).
      const authority = await createIssuer(ctx, {
        name: 'Marking Exemption Authority',
        kind: 'exemption_authority',
        schemes: ['CCC_EXEMPTION'],
      });
      const exemption = await issueCertificate(api, authority.key, {
        scheme: 'CCC_EXEMPTION',
        quantity: 5,
        purpose: 'display_only',
      });
      const issue = (count: number) =>
        api.post(`/v1/certificates/${exemption.id}/marks`, { count }, authority.key);
      const over = await issue(6);
      expect([over.status, over.body.code]).toEqual([422, 'quantity_exceeded']);
      expect((await issue(2)).status).toBe(201);
      // Three batches of 2 at once for the 3 left: one gets them, never more than 5 in all.
      const racing = await Promise.all([issue(2), issue(2), issue(2)]);
      expect(racing.map((r) => r.status).sort()).toEqual([201, 422, 422]);
      expect((await issue(1)).status).toBe(201);
      const last = await issue(1);
      expect([last.status, last.body.detail]).toEqual([
        422,
        expect.stringContaining('at most 0 more'),
      ]);
    });

    it('writes a small batch before answering (201) and records it in the audit log', async () => {
      const res = await api.get(`/v1/mark-batches/${batch.batchId}`, issuer.key);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        batchId: batch.batchId,
        count: 5,
        done: 5,
        status: 'done',
        model: 'X1-100',
        lot: 'LOT-7',
      });
      expect(await auditActions(batch.batchId)).toEqual(['mark.batch.create']);
    });

    it('streams NDJSON whose codes carry the serials, and the same marks as CSV', async () => {
      expect(batch.marks).toHaveLength(5);
      for (const mark of batch.marks) {
        expect(hasValidSerialCheckDigits(mark.serial)).toBe(true);
        expect(decodeMarkCode(mark.code).serial).toBe(mark.serial);
        expect(mark.url).toBe(`https://certmark.test/m/${mark.code}`);
      }
      expect(new Set(batch.marks.map((m) => m.serial)).size).toBe(5);
      const csv = await api.get(`/v1/mark-batches/${batch.batchId}/marks`, issuer.key, {
        accept: 'text/csv',
      });
      expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
      const lines = csv.text.trim().split('\r\n');
      expect(lines[0]).toBe('serial,code,url');
      expect(lines.slice(1)).toEqual(batch.marks.map((m) => `${m.serial},${m.code},${m.url}`));
      // Accept's weights count: CSV refused (q=0) or ranked below NDJSON is NDJSON.
      for (const accept of ['text/csv;q=0, */*', 'text/csv;q=0.5, application/x-ndjson']) {
        const ndjson = await api.get(`/v1/mark-batches/${batch.batchId}/marks`, issuer.key, {
          accept,
        });
        expect(ndjson.headers.get('content-type'), accept).toMatch(/^application\/x-ndjson/);
      }
      const weighed = await api.get(`/v1/mark-batches/${batch.batchId}/marks`, issuer.key, {
        accept: 'application/x-ndjson;q=0.2, text/csv',
      });
      expect(weighed.headers.get('content-type')).toMatch(/^text\/csv/);
    });

    it('issues a large batch at once (201, done, no row per mark) and signs its export on workers', async () => {
      const res = await api.post(`/v1/certificates/${cert.id}/marks`, { count: 4_500 }, issuer.key);
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ status: 'done', done: 4_500, count: 4_500 });
      const rows = async () =>
        rowsOf<{ n: number }>(
          await ctx.handle.db.execute(
            sql`SELECT count(*)::int AS n FROM marks WHERE batch_id = ${res.body.batchId}::uuid`,
          ),
        )[0]!.n;
      expect(await rows()).toBe(0);
      const marks = await exportMarks(api, issuer.key, res.body.batchId);
      expect(marks).toHaveLength(4_500);
      expect(new Set(marks.map((m) => m.serial)).size).toBe(4_500);
      // Worker-signed codes are the same codes the service verifies.
      const sample = marks[4_321]!;
      expect(decodeMarkCode(sample.code).serial).toBe(sample.serial);
      expect(sample.code).toBe(await signWith(issuer.id, sample.serial));
      expect((await verify({ code: sample.url })).body).toMatchObject({
        verdict: 'authentic',
        mark: { serial: sample.serial, scanCount: 1 },
      });
      // The first scan gave that mark, and only that one, its row.
      expect(await rows()).toBe(1);
      // A serial of the batch's number past its count is no mark.
      const past = markSerials().serialAt(await batchNumber(res.body.batchId), 4_500);
      expect(
        (await verify({ code: past })).body.reasons.map((r: { code: string }) => r.code),
      ).toEqual(['NOT_IN_REGISTRY']);
    });

    it('keeps new serials clear of older batches’ random ones, and numbers an older unfinished batch', async () => {
      // Two batches as issued before positional serials: a finished one whose random serial happens
      // to be the serial of the next number's position 5, and one whose fill had not finished.
      const [next] = rowsOf<{ n: string }>(
        await ctx.handle.db.execute(
          sql`SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END AS n FROM mark_batch_numbers`,
        ),
      );
      const clashing = markSerials().serialAt(Number(next!.n), 5);
      const model = await api.post(`/v1/certificates/${cert.id}/marks`, { count: 1 }, issuer.key);
      const older = async (status: string, serials: string[]) => {
        const [row] = rowsOf<{ id: string }>(
          await ctx.handle.db.execute(sql`
            INSERT INTO mark_batches (id, certificate_id, issuer_id, kid, count, done, status, created_at)
            SELECT gen_random_uuid(), certificate_id, issuer_id, kid, 3, ${serials.length}, ${status},
                   ${TEST_NOW}::timestamptz
              FROM mark_batches WHERE id = ${model.body.batchId}::uuid
            RETURNING id`),
        );
        for (const [k, serial] of serials.entries()) {
          await ctx.handle.db.execute(sql`
            INSERT INTO marks (serial, batch_id, ordinal, certificate_id)
            VALUES (${serial}::bigint, ${row!.id}::uuid, ${k + 1}, ${cert.id}::uuid)`);
        }
        return row!.id;
      };
      // Written as before the upgrade: without the constraint that its migration adds NOT VALID.
      await ctx.handle.db.execute(
        sql`ALTER TABLE mark_batches DROP CONSTRAINT mark_batches_numbered`,
      );
      const finished = await older('done', [clashing, generateSerial(), generateSerial()]);
      const unfinishedSerial = generateSerial();
      const unfinished = await older('running', [unfinishedSerial]);
      await ctx.handle.db.execute(
        sql`ALTER TABLE mark_batches ADD CONSTRAINT mark_batches_numbered CHECK (number IS NOT NULL) NOT VALID`,
      );
      // Older code still running after the upgrade can neither record a batch without a number
      // nor go on filling an older one: the constraint refuses both.
      const refused = (error: unknown) =>
        JSON.stringify(error, Object.getOwnPropertyNames(error)).includes(
          'mark_batches_numbered',
        ) ||
        String((error as { cause?: { constraint?: string } }).cause?.constraint).includes(
          'mark_batches_numbered',
        );
      expect(refused(await older('pending', []).catch((error: unknown) => error))).toBe(true);
      expect(
        refused(
          await ctx.handle.db
            .execute(sql`UPDATE mark_batches SET done = done WHERE id = ${finished}::uuid`)
            .catch((error: unknown) => error),
        ),
      ).toBe(true);
      // A mark its fill had written could be voided: its list gets the bit of position 0.
      const voided = await api.post(
        `/v1/marks/${unfinishedSerial}/void`,
        { reason: 'destroyed' },
        issuer.key,
      );
      expect(voided.status).toBe(200);
      const listBitsSet = async () =>
        rowsOf<{ set: boolean }>(
          await ctx.handle.db.execute(sql`
            SELECT bits <> decode(repeat('00', octet_length(bits)), 'hex') AS set
              FROM status_lists WHERE batch_id = ${unfinished}::uuid`),
        );
      expect(await listBitsSet()).toEqual([{ set: true }]);
      await ctx.handle.db.execute(
        sql`UPDATE mark_serials_upgrade SET done = false, through = NULL`,
      );

      // Until the older serials are read, no number is safe to give.
      const early = await api.post(`/v1/certificates/${cert.id}/marks`, { count: 2 }, issuer.key);
      expect(early.status).toBe(503);
      expect(early.body.code).toBe('service_starting');

      expect(await ctx.services.marks.upgradeSerials()).toBeGreaterThanOrEqual(4);
      const state = async (id: string) =>
        (await api.get(`/v1/mark-batches/${id}`, issuer.key)).body as Record<string, unknown>;
      expect(await state(unfinished)).toMatchObject({ status: 'done', done: 3 });
      expect(await batchNumber(unfinished)).not.toBe(Number(next!.n));
      // Its voided row went with the others: no bit says void of the positional mark now there.
      expect(await listBitsSet()).toEqual([{ set: false }]);
      const first = markSerials().serialAt(await batchNumber(unfinished), 0);
      expect((await verify({ code: first })).body.verdict).toBe('authentic');

      const fresh = await api.post(`/v1/certificates/${cert.id}/marks`, { count: 6 }, issuer.key);
      expect(fresh.status).toBe(201);
      expect(await batchNumber(fresh.body.batchId)).not.toBe(Number(next!.n));
      const freshSerials = (await exportMarks(api, issuer.key, fresh.body.batchId)).map(
        (m) => m.serial,
      );
      expect(freshSerials).not.toContain(clashing);
      // The older mark still verifies as the older batch's.
      const typed = await verify({ code: clashing });
      expect(typed.body.verdict).toBe('authentic');
      const owner = rowsOf<{ batchId: string }>(
        await ctx.handle.db.execute(
          sql`SELECT batch_id AS "batchId" FROM marks WHERE serial = ${clashing}::bigint`,
        ),
      );
      expect(owner).toEqual([{ batchId: finished }]);
      // Running it again reads nothing more.
      expect(await ctx.services.marks.upgradeSerials()).toBe(0);
    });

    it('prints an A4 label sheet: QR, grouped serial and certificate number', async () => {
      const res = await api.get(`/v1/mark-batches/${batch.batchId}/labels.svg?page=1`, issuer.key);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('image/svg+xml');
      expect(res.headers.get('x-total-pages')).toBe('1');
      expect(res.text).toContain('width="210mm" height="297mm"');
      for (const mark of batch.marks)
        expect(res.text).toContain(mark.serial.replace(/(\d{4})(?=\d)/g, '$1 '));
      expect(res.text).toContain(`CCC ${cert.number}`);
      expect(
        (await api.get(`/v1/mark-batches/${batch.batchId}/labels.svg?page=2`, issuer.key)).status,
      ).toBe(404);
    });

    it('strikes a void mark on the sheet, in its place, with no code to scan (as the PDF)', async () => {
      const { batchId, marks: three } = await issueMarks(api, issuer.key, cert.id, { count: 3 });
      const voided = await api.post(
        `/v1/marks/${three[1]!.serial}/void`,
        { reason: 'destroyed' },
        issuer.key,
      );
      expect(voided.status, voided.text).toBe(200);
      const sheet = (await api.get(`/v1/mark-batches/${batchId}/labels.svg?page=1`, issuer.key))
        .text;
      // Two QR codes (one a path each), the void one's box with VOID, every serial in order.
      expect(sheet.match(/<path transform=/g)).toHaveLength(2);
      expect(sheet.match(/>VOID</g)).toHaveLength(1);
      const grouped = three.map((m) => m.serial.replace(/(\d{4})(?=\d)/g, '$1 '));
      const at = grouped.map((g) => sheet.indexOf(g));
      expect(at.every((i) => i > 0)).toBe(true);
      expect([...at].sort((a, b) => a - b)).toEqual(at);
      // The VOID box sits between the first and the third label's serials.
      const voidAt = sheet.indexOf('>VOID<');
      expect(voidAt).toBeGreaterThan(at[0]!);
      expect(voidAt).toBeLessThan(at[1]!);
      // Nor is its code handed out as a QR code of its own (it was, printable: outside probe).
      for (const format of ['svg', 'png']) {
        const qr = await api.get(`/v1/marks/${three[1]!.serial}/qr.${format}`, issuer.key);
        expect([qr.status, qr.body.code], format).toEqual([409, 'mark_already_void']);
      }
      expect((await api.get(`/v1/marks/${three[0]!.serial}/qr.svg`, issuer.key)).status).toBe(200);
    });

    it('renders a mark’s QR holding the upper-cased URL in alphanumeric mode, version ≤ 6', async () => {
      const mark = batch.marks[0]!;
      const res = await ctx.app.request(`/v1/marks/${mark.serial}/qr.png`, {
        headers: { authorization: `Bearer ${issuer.key}` },
      });
      expect(res.status).toBe(200);
      const png = PNG.sync.read(Buffer.from(await res.arrayBuffer()));
      const decoded = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
      expect(decoded?.data).toBe(mark.url.toUpperCase());
      const svg = await api.get(`/v1/marks/${mark.serial}/qr.svg`, issuer.key);
      expect(svg.headers.get('content-type')).toBe('image/svg+xml');
      // SPEC: a base URL of up to 30 characters fits version 6 at level M.
      const base30 = 'https://verify.certmark.gov.cn';
      expect(base30).toHaveLength(30);
      const qr = QRCode.create(markQrSegments(`${base30}/m/${mark.code}`), {
        errorCorrectionLevel: 'M',
      });
      expect(qr.version).toBeLessThanOrEqual(6);
      expect(qr.segments.map((s) => s.mode.id)).toEqual(['Alphanumeric']);
      // The upper-cased URL is what a phone opens: it verifies.
      expect(
        (await api.get(`/M/${mark.code}`, undefined, { accept: 'application/json' })).body.verdict,
      ).toBe('authentic');
      // Quality values are weighed: JSON above the page is JSON; JSON at q=0 is the page.
      const weighed = await api.get(`/m/${mark.code}`, undefined, {
        accept: 'application/json, text/html;q=0.1',
      });
      expect(weighed.headers.get('content-type')).toMatch(/^application\/json/);
      expect(weighed.body.verdict).toBe('authentic');
      const refused = await api.get(`/m/${mark.code}`, undefined, {
        accept: 'application/json;q=0',
      });
      expect(refused.headers.get('content-type')).toMatch(/^text\/html/);
    });

    it('refuses a model outside the certificate’s scope and bad input, writing nothing', async () => {
      const count = async () =>
        Number(
          rowsOf<{ n: string }>(
            await ctx.handle.db.execute(sql`SELECT count(*) AS n FROM mark_batches`),
          )[0]!.n,
        );
      const before = await count();
      const outOfScope = await api.post(
        `/v1/certificates/${cert.id}/marks`,
        { count: 2, model: 'Z9-000' },
        issuer.key,
      );
      expect(outOfScope.status).toBe(422);
      expect(outOfScope.headers.get('content-type')).toBe('application/problem+json');
      expect(outOfScope.body.code).toBe('model_out_of_scope');
      for (const body of [
        { count: 0 },
        { count: 1_000_001 },
        { count: 1.5 },
        {},
        { count: 2, extra: 1 },
        { count: 2, model: 'X1-*' },
      ]) {
        const res = await api.post(`/v1/certificates/${cert.id}/marks`, body, issuer.key);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.code).toBe('validation_failed');
      }
      expect(
        (await api.post(`/v1/certificates/not-a-uuid/marks`, { count: 2 }, issuer.key)).status,
      ).toBe(400);
      expect(
        (await api.post(`/v1/certificates/${crypto.randomUUID()}/marks`, { count: 2 }, issuer.key))
          .status,
      ).toBe(404);
      const revoked = await issueCertificate(api, issuer.key);
      await api.post(
        `/v1/certificates/${revoked.id}/status`,
        { status: 'revoked', reason: 'test', signatory: { name: '李四' } },
        issuer.key,
      );
      const refused = await api.post(
        `/v1/certificates/${revoked.id}/marks`,
        { count: 2 },
        issuer.key,
      );
      expect(refused.status).toBe(409);
      expect(refused.body.code).toBe('certificate_not_valid');
      expect(await count()).toBe(before);
    });
  });

  describe('access', () => {
    it('lets only the owning issuer issue, read, export, print and void', async () => {
      const admin = ctx.adminKey;
      const { batchId } = batch;
      const serial = batch.marks[1]!.serial;
      const calls: [string, string, unknown?][] = [
        ['POST', `/v1/certificates/${cert.id}/marks`, { count: 1 }],
        ['GET', `/v1/mark-batches/${batchId}`],
        ['GET', `/v1/mark-batches/${batchId}/marks`],
        ['GET', `/v1/mark-batches/${batchId}/labels.svg`],
        ['GET', `/v1/marks/${serial}/qr.svg`],
        ['GET', `/v1/marks/${serial}/qr.png`],
        ['POST', `/v1/marks/${serial}/void`, { reason: 'lost' }],
      ];
      for (const [method, url, body] of calls) {
        const anonymous = await api.call(method, url, { body });
        expect(anonymous.status, `${method} ${url} anonymous`).toBe(401);
        expect(anonymous.headers.get('content-type')).toBe('application/problem+json');
        expect(
          (await api.call(method, url, { body, key: otherIssuer.key })).status,
          `${method} ${url} other issuer`,
        ).toBe(403);
        expect(
          (await api.call(method, url, { body, key: admin })).status,
          `${method} ${url} admin`,
        ).toBe(403);
        expect(
          (await api.call(method, url, { body, key: supervisorKey })).status,
          `${method} ${url} supervisor`,
        ).toBe(403);
      }
      expect((await verify({ code: batch.marks[1]!.code })).body.mark.status).toBe('active');
    });

    it('answers a typed serial with bad check digits 422 in a path', async () => {
      const serial = batch.marks[0]!.serial;
      const typo = serial.slice(0, 15) + String((Number(serial[15]) + 1) % 10);
      const res = await api.get(`/v1/marks/${typo}/qr.svg`, issuer.key);
      expect(res.status).toBe(422);
      expect(res.body.code).toBe('serial_check_failed');
      expect((await api.get(`/v1/marks/12345/qr.svg`, issuer.key)).status).toBe(400);
    });
  });

  describe('verifying', () => {
    it('answers a genuine mark authentic, counting scans and remembering the first', async () => {
      const mark = batch.marks[2]!;
      const first = await verify({ code: mark.url, location: { region: '350100' } });
      expect(first.status).toBe(200);
      expect(first.body).toMatchObject({
        verdict: 'authentic',
        reasons: [],
        mark: {
          serial: mark.serial,
          status: 'active',
          scanCount: 1,
          model: 'X1-100',
          lot: 'LOT-7',
        },
        certificate: { id: cert.id, number: cert.number, status: 'valid' },
        checkedAt: '2026-11-24T10:00:00.000Z',
      });
      expect(first.body.mark.firstScan).toEqual({
        at: '2026-11-24T10:00:00.000Z',
        region: '350100',
      });
      ctx.clock.advance(60_000);
      // Any form of the same mark: the URL lower-cased, the bare code, the typed serial in groups,
      // the consumer page's address of the serial.
      for (const code of [
        mark.url.toLowerCase(),
        ` ${mark.code} `,
        mark.serial.replace(/(\d{4})(?=\d)/g, '$1 '),
        mark.url.replace(mark.code, mark.serial),
      ]) {
        const again = await verify({ code, location: { region: '350200' } });
        expect(again.body.verdict, code).toBe('authentic');
        expect(again.body.mark.firstScan).toEqual({
          at: '2026-11-24T10:00:00.000Z',
          region: '350100',
        });
      }
      const last = await verify({ code: mark.code });
      expect(last.body.mark.scanCount).toBe(6);
      // The same kept certificate, past its last valid day and back: the view follows the day.
      ctx.clock.set('2029-01-01T16:00:00.000Z'); // 2029-01-02 in China
      const expired = await verify({ code: mark.code });
      expect(expired.body.reasons.map((r: { code: string }) => r.code)).toEqual(['EXPIRED']);
      expect(expired.body.certificate.status).toBe('expired');
      ctx.clock.set('2026-11-24T10:00:00.000Z');
      expect((await verify({ code: mark.code })).body.certificate.status).toBe('valid');
    });

    it('records every verification in the scan log, with the caller’s role', async () => {
      const mark = batch.marks[3]!;
      await verify(
        { code: mark.code, location: { region: '110105', lat: 39.9042, lon: 116.4074 } },
        supervisorKey,
      );
      await verify({ code: mark.serial });
      await ctx.services.markVerification.flushScanLog();
      // Supervisors (and the owning issuer) read it newest first.
      const res = await api.get(`/v1/marks/${mark.serial}/scans`, supervisorKey);
      expect(res.status, res.text).toBe(200);
      expect(res.body).toMatchObject({
        serial: mark.serial,
        scanCount: 2,
        suspectedCloneSince: null,
        total: 2,
      });
      const [newest, oldest] = res.body.items;
      expect(oldest).toEqual({
        at: '2026-11-24T10:00:00.000Z',
        region: '110105',
        lat: 39.9042,
        lon: 116.4074,
        callerRole: 'supervisor',
        channel: 'api',
        verdict: 'authentic',
        reasons: [],
        counted: true,
      });
      expect(newest).toMatchObject({ region: null, callerRole: null, verdict: 'authentic' });
      // The owning issuer pages through it too, with the consumer's place coarsened to ~10 km.
      const paged = await api.get(`/v1/marks/${mark.serial}/scans?pageSize=1&page=2`, issuer.key);
      expect(paged.body).toMatchObject({
        total: 2,
        items: [{ region: '110105', lat: 39.9, lon: 116.4 }],
      });
    });

    it('answers a typed serial with failed check digits 422 serial_check_failed', async () => {
      const serial = batch.marks[0]!.serial;
      const typo = serial.slice(0, 14) + serial[15] + serial[14];
      if (typo === serial) return;
      const res = await verify({ code: typo });
      expect(res.status).toBe(422);
      expect(res.body.code).toBe('serial_check_failed');
    });

    it('finds forgeries: MALFORMED, BAD_SIGNATURE, UNKNOWN_KEY, NOT_IN_REGISTRY, REGISTRY_MISMATCH', async () => {
      const mark = batch.marks[0]!;
      const reasonOf = async (code: string) => {
        const res = await verify({ code });
        expect(res.status).toBe(200);
        expect(res.body.verdict).toBe('forged');
        expect(res.body.mark).toBeUndefined();
        expect(res.body.certificate).toBeUndefined();
        return res.body.reasons.map((r: { code: string }) => r.code);
      };
      expect(await reasonOf('hello')).toEqual(['MALFORMED']);
      expect(await reasonOf('A'.repeat(120))).toEqual(['MALFORMED']);
      expect(await reasonOf('https://certmark.test/m/' + mark.code.slice(1))).toEqual([
        'MALFORMED',
      ]);
      expect(await reasonOf(tamperCode(mark.code, 0, 0x03))).toEqual(['MALFORMED']);
      expect(await reasonOf(tamperCode(mark.code, 74, 1))).toEqual(['BAD_SIGNATURE']);
      // Signed bytes altered in the serial (its check digits then fail): the signature says so.
      expect(await reasonOf(tamperCode(mark.code, 9, 0x10))).toEqual(['BAD_SIGNATURE']);
      expect(await reasonOf(tamperCode(mark.code, 1, 0xff))).toEqual(['UNKNOWN_KEY']);
      // A valid signature over a serial nobody issued.
      expect(await reasonOf(await signWith(issuer.id, generateSerial()))).toEqual([
        'NOT_IN_REGISTRY',
      ]);
      // Another issuer signs this issuer's serial.
      expect(await reasonOf(await signWith(otherIssuer.id, mark.serial))).toEqual([
        'REGISTRY_MISMATCH',
      ]);
    });

    it('does not verify marks of an unfinished batch', async () => {
      const mark = batch.marks[4]!;
      await setBatchStatus(ctx, batch.batchId, 'running');
      try {
        const res = await verify({ code: mark.code });
        expect(res.body.verdict).toBe('forged');
        expect(res.body.reasons.map((r: { code: string }) => r.code)).toEqual(['NOT_IN_REGISTRY']);
        expect((await verify({ code: mark.serial })).body.reasons[0].code).toBe('NOT_IN_REGISTRY');
      } finally {
        await setBatchStatus(ctx, batch.batchId, 'done');
      }
    });

    it('reports misuse: another model, a presenter who is not a party', async () => {
      const mark = batch.marks[4]!;
      const otherModel = await verify({ code: mark.code, product: { model: 'X1-250' } });
      expect(otherModel.body.verdict).toBe('misused');
      expect(otherModel.body.reasons.map((r: { code: string }) => r.code)).toEqual([
        'OUT_OF_SCOPE',
      ]);
      expect((await verify({ code: mark.code, product: { model: 'x1-100' } })).body.verdict).toBe(
        'authentic',
      );
      const presenter = await verify({ code: mark.code, presenter: { uscc: USCC.other } });
      expect(presenter.body.reasons.map((r: { code: string }) => r.code)).toEqual([
        'HOLDER_MISMATCH',
      ]);
      // A mark without a model vouches for the certificate's scope.
      const scoped = await issueMarks(api, issuer.key, cert.id, { count: 1 });
      const code = scoped.marks[0]!.code;
      expect((await verify({ code, product: { model: 'X1-250' } })).body.verdict).toBe('authentic');
      expect((await verify({ code, product: { model: 'Z9' } })).body.reasons[0].code).toBe(
        'OUT_OF_SCOPE',
      );
    });

    it('follows the certificate: suspended is invalid', async () => {
      const suspendedCert = await issueCertificate(api, issuer.key);
      const { marks } = await issueMarks(api, issuer.key, suspendedCert.id, { count: 1 });
      await api.post(
        `/v1/certificates/${suspendedCert.id}/status`,
        { status: 'suspended', reason: 'audit', signatory: { name: '李四' } },
        issuer.key,
      );
      const res = await verify({ code: marks[0]!.code });
      expect(res.body.verdict).toBe('invalid');
      expect(res.body.reasons.map((r: { code: string }) => r.code)).toEqual(['SUSPENDED']);
      expect(res.body.certificate.status).toBe('suspended');
    });

    it('answers every change made after a certificate was last seen: its status, its issuer’s name and status', async () => {
      // The scan statement reads only the certificate's and issuer's row versions; their content is
      // kept under those versions, so each change below must show at the very next scan.
      const changing = await createIssuer(ctx, { name: 'Changing Body' });
      const changingCert = await issueCertificate(api, changing.key);
      const { marks } = await issueMarks(api, changing.key, changingCert.id, { count: 3 });
      const codesOf = (res: { body: { reasons: { code: string }[] } }) =>
        res.body.reasons.map((r) => r.code);
      const first = await verify({ code: marks[0]!.code });
      expect(first.body.verdict).toBe('authentic');
      expect(first.body.certificate.issuer.name).toBe('Changing Body');

      await ctx.handle.db.execute(
        sql`UPDATE issuers SET name = 'Renamed Body' WHERE id = ${changing.id}::uuid`,
      );
      const renamed = await verify({ code: marks[0]!.code });
      expect(renamed.body.verdict).toBe('authentic');
      expect(renamed.body.certificate.issuer.name).toBe('Renamed Body');

      const suspended = await api.post(
        `/v1/certificates/${changingCert.id}/status`,
        { status: 'suspended', reason: 'audit', signatory: { name: '李四' } },
        changing.key,
      );
      expect(suspended.status).toBe(200);
      for (const mark of marks.slice(0, 2)) {
        const res = await verify({ code: mark.code });
        expect(res.body.verdict).toBe('invalid');
        expect(codesOf(res)).toEqual(['SUSPENDED']);
      }

      const issuerSuspended = await api.post(
        `/v1/issuers/${changing.id}/status`,
        { status: 'suspended', reason: 'CNCA decision' },
        ctx.adminKey,
      );
      expect(issuerSuspended.status).toBe(200);
      const both = await verify({ code: marks[2]!.code });
      expect(codesOf(both)).toEqual(['SUSPENDED', 'ISSUER_SUSPENDED']);
      expect(both.body.certificate.issuer.status).toBe('suspended');
    });

    it('voids a mark (owning issuer, audited): it then verifies invalid/MARK_VOID', async () => {
      const mark = batch.marks[1]!;
      const res = await api.post(
        `/v1/marks/${mark.serial}/void`,
        { reason: 'label destroyed' },
        issuer.key,
      );
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        serial: mark.serial,
        status: 'void',
        voidReason: 'label destroyed',
      });
      const again = await api.post(
        `/v1/marks/${mark.serial}/void`,
        { reason: 'again' },
        issuer.key,
      );
      expect(again.status).toBe(409);
      expect((await api.post(`/v1/marks/${mark.serial}/void`, {}, issuer.key)).status).toBe(400);
      const verified = await verify({ code: mark.code });
      expect(verified.body.verdict).toBe('invalid');
      expect(verified.body.reasons.map((r: { code: string }) => r.code)).toEqual(['MARK_VOID']);
      expect(verified.body.mark.status).toBe('void');
      expect(await auditActions(mark.serial)).toEqual(['mark.void']);
    });

    it('keeps verifying marks after a key rotation; new batches use the new key', async () => {
      const rotating = await createIssuer(ctx, { name: 'Rotating Body' });
      const rotatingCert = await issueCertificate(api, rotating.key);
      const before = await issueMarks(api, rotating.key, rotatingCert.id, { count: 1 });
      const rotated = await api.post(`/v1/issuers/${rotating.id}/keys/rotate`, {}, rotating.key);
      expect(rotated.status).toBe(201);
      const after = await issueMarks(api, rotating.key, rotatingCert.id, { count: 1 });
      expect((await verify({ code: before.marks[0]!.code })).body.verdict).toBe('authentic');
      expect((await verify({ code: after.marks[0]!.code })).body.verdict).toBe('authentic');
      const keyIdOf = (code: string) => Buffer.from(decodeMarkCode(code).keyId).toString('hex');
      expect(keyIdOf(after.marks[0]!.code)).not.toBe(keyIdOf(before.marks[0]!.code));
    });

    it('stops verifying the marks of a compromised key at once, scanned or typed (UNKNOWN_KEY)', async () => {
      const victim = await createIssuer(ctx, { name: 'Victim Body' });
      const victimCert = await issueCertificate(api, victim.key);
      const { batchId, marks } = await issueMarks(api, victim.key, victimCert.id, { count: 1 });
      const { code, serial } = marks[0]!;
      expect((await verify({ code })).body.verdict).toBe('authentic');
      expect((await verify({ code: serial })).body.verdict).toBe('authentic');
      // What a forger holding the leaked key makes: a new serial, signed with it.
      const forged = await signWith(victim.id, generateSerial());
      const compromised = await api.post(
        `/v1/issuers/${victim.id}/keys/${victim.kid}/compromise`,
        {},
        ctx.adminKey,
      );
      expect(compromised.status).toBe(200);
      const again = await api.post(
        `/v1/issuers/${victim.id}/keys/${victim.kid}/compromise`,
        {},
        ctx.adminKey,
      );
      expect([again.status, again.body.code]).toEqual([409, 'key_already_compromised']);
      // Its labels cannot be exported or printed again.
      const exported = await api.get(`/v1/mark-batches/${batchId}/marks`, victim.key);
      expect([exported.status, exported.body.code]).toEqual([409, 'batch_key_compromised']);
      // Whoever holds the key can sign any serial: a label of that batch proves nothing any more,
      // whether its code is scanned or its serial typed.
      for (const input of [code, serial]) {
        const res = await verify({ code: input });
        expect(res.body.verdict, input).toBe('forged');
        expect(res.body.reasons.map((r: { code: string }) => r.code)).toEqual(['UNKNOWN_KEY']);
        expect(res.body.mark, input).toBeUndefined();
      }
      // Supervisors see whose leaked key is in use. The registered mark's alert is its issuer's;
      // a forged serial whose signature holds under the withdrawn key counts on that key and its
      // issuer, once every instance's key ring has forgotten the key (within 2 s).
      const unknownKeyAlerts = async () =>
        (await api.get('/v1/alerts?status=open&reason=UNKNOWN_KEY&pageSize=100', supervisorKey))
          .body.items as {
          subjectType: string;
          subject: string;
          issuerId: string | null;
          count: number;
        }[];
      expect(await unknownKeyAlerts()).toContainEqual(
        expect.objectContaining({ subjectType: 'mark', subject: serial, issuerId: victim.id }),
      );
      await new Promise((resolve) => setTimeout(resolve, 2_200));
      const leaked = await verify({ code: forged });
      expect(leaked.body.reasons).toEqual([
        { code: 'UNKNOWN_KEY', message: 'the mark is signed by a withdrawn (compromised) key' },
      ]);
      const keyAlert = async () =>
        (await unknownKeyAlerts()).find(
          (a) => a.subjectType === 'signing_key' && a.subject === victim.kid,
        );
      const attributed = await keyAlert();
      expect(attributed).toMatchObject({ issuerId: victim.id });
      // The same id with a signature that does not hold is not laid at that issuer's door.
      const altered = await verify({ code: tamperCode(forged, 70, 4) });
      expect(altered.body.reasons.map((r: { code: string }) => r.code)).toEqual(['UNKNOWN_KEY']);
      expect((await keyAlert())!.count).toBe(attributed!.count);
      // A fresh batch under the new current key verifies again.
      const fresh = await issueMarks(api, victim.key, victimCert.id, { count: 1 });
      expect((await verify({ code: fresh.marks[0]!.serial })).body.verdict).toBe('authentic');
    });

    it('raises an alert for supervisors on a forged answer', async () => {
      const forged = await signWith(issuer.id, generateSerial());
      const serial = decodeMarkCode(forged).serial;
      const { kid } = (await findCurrentSigningKey(ctx.handle.db, issuer.id))!;
      await verify({ code: forged, location: { region: '440300' } });
      const alerts = await api.get(
        '/v1/alerts?status=open&reason=NOT_IN_REGISTRY&pageSize=100',
        supervisorKey,
      );
      expect(alerts.status).toBe(200);
      // A serial no batch holds counts on the key that signed it, with the serial kept.
      const alert = alerts.body.items.find(
        (a: { subjectType: string }) => a.subjectType === 'signing_key',
      );
      expect(alert).toMatchObject({ subject: kid, reason: 'NOT_IN_REGISTRY', issuerId: issuer.id });
      expect(alert.regions).toContain('440300');
      expect((alert.lastSeenBy ?? alert.raisedBy).context.serial).toBe(serial);
    });

    it('refuses bad input with problem+json', async () => {
      for (const body of [
        {},
        { code: '' },
        { code: 1 },
        { code: 'x', location: { region: '999999' } },
        { code: 'x', location: { lat: 10 } },
        { code: 'x', location: { lat: 91, lon: 0 } },
        { code: 'x', extra: true },
      ]) {
        const res = await verify(body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.headers.get('content-type')).toBe('application/problem+json');
      }
      const malformed = await api.post('/v1/verify/mark', '{"code":', undefined);
      expect(malformed.status).toBe(400);
    });
  });

  it('describes the mark endpoints in /openapi.json', async () => {
    const doc = await api.get('/openapi.json');
    for (const path of [
      '/v1/certificates/{id}/marks',
      '/v1/mark-batches/{batchId}',
      '/v1/mark-batches/{batchId}/marks',
      '/v1/mark-batches/{batchId}/labels.svg',
      '/v1/mark-batches/{batchId}/labels.pdf',
      '/v1/marks/{serial}/qr.svg',
      '/v1/marks/{serial}/void',
      '/v1/verify/mark',
      '/m/{code}',
      '/c/{id}',
    ]) {
      expect(doc.body.paths[path], path).toBeDefined();
    }
  });

  describe('offline CLI', () => {
    it('checks a real code (exit 0) and a tampered one (exit 1) with the JWKS alone', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmark-cli-'));
      const jwksFile = path.join(dir, 'jwks.json');
      fs.writeFileSync(jwksFile, (await api.get('/.well-known/jwks.json')).text);
      const cli = (code: string) =>
        run(
          process.execPath,
          ['--import', 'tsx', 'src/cli/bin.ts', 'verify', code, '--jwks', jwksFile],
          {
            cwd: process.cwd(),
          },
        ).then(
          (r) => ({ code: 0, stdout: r.stdout }),
          (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
        );
      const mark = batch.marks[0]!;
      const [good, bad] = await Promise.all([
        cli(mark.url.toUpperCase()),
        cli(tamperCode(mark.code, 40, 0x10)),
      ]);
      expect(good.code).toBe(0);
      expect(good.stdout).toMatch(
        /^authentic-signature: mark \d{4} \d{4} \d{4} \d{4} is signed by China Quality Certification Centre/,
      );
      expect(bad.code).toBe(1);
      expect(bad.stdout).toMatch(/^forged: BAD_SIGNATURE/);
      fs.rmSync(dir, { recursive: true, force: true });
    });
  });
});

describe('product marks on the embedded database (PGlite)', () => {
  let handle: DatabaseHandle;
  let services: Services;
  let api: Client;
  beforeAll(async () => {
    handle = await openDatabase({ databaseUrl: undefined, dataDir: 'memory://' });
    const deps = {
      db: handle.db,
      config: loadConfig({ RATE_LIMIT_PER_MINUTE: '0', PUBLIC_BASE_URL: 'https://certmark.test' }),
      keys: testKeys(),
      clock: fixedClock(TEST_NOW),
      ping: handle.ping,
    };
    services = createServices(deps);
    api = client(createApp(deps, services));
  });
  afterAll(async () => {
    await services.marks.close();
    await services.markVerification.close();
    await handle.close();
  });

  it('issues, exports, verifies, counts and flags clones', async () => {
    const admin = 'cm_pglite-marks-admin-key-00000000000000000000';
    await services.apiKeys.ensureAdminKey(admin);
    const issuer = await api.post(
      '/v1/issuers',
      { name: 'PGlite Body', kind: 'certification_body', schemes: ['CCC'] },
      admin,
    );
    const key = (
      await api.post('/v1/api-keys', { role: 'issuer', issuerId: issuer.body.id }, admin)
    ).body.key;
    const cert = await issueCertificate(api, key);
    const accepted = await api.post(`/v1/certificates/${cert.id}/marks`, { count: 2_500 }, key);
    expect(accepted.status).toBe(201);
    const marks = await exportMarks(api, key, accepted.body.batchId);
    expect(new Set(marks.map((m) => m.serial)).size).toBe(2_500);
    const mark = marks[1_234]!;
    const regions = ['350100', '440300', '110105'];
    const verdicts = [];
    for (const region of regions)
      verdicts.push(
        (await api.post('/v1/verify/mark', { code: mark.url, location: { region } })).body,
      );
    expect(verdicts.map((v) => v.verdict)).toEqual(['authentic', 'authentic', 'suspicious']);
    expect(verdicts[2].mark).toMatchObject({ scanCount: 3, firstScan: { region: '350100' } });
    expect((await api.post('/v1/verify/mark', { code: mark.serial })).body.mark.scanCount).toBe(4);
    await services.markVerification.flushScanLog();
    const log = await api.get(`/v1/marks/${mark.serial}/scans`, key);
    expect(log.body.items.map((e: { verdict: string }) => e.verdict)).toEqual([
      'suspicious',
      'suspicious',
      'authentic',
      'authentic',
    ]);
  });
});
