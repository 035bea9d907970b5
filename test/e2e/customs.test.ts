import { createHash } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, createServices, type App } from '../../src/app';
import { canonicalJson } from '../../src/crypto/canonical-json';
import { rowsOf } from '../../src/db/client';
import { CustomsService } from '../../src/customs/customs.service';
import type { AlertSignal, AlertSink } from '../../src/verification/alert-sink';
import { client, createTestContext, TEST_NOW, type Client, type TestContext } from '../helpers';
import {
  createIssuer,
  createRoleKey,
  issueCertificate,
  USCC,
  type IssuerFixture,
} from '../fixtures';

/** Valid USCCs beyond the fixtures' two (both GB 32100 and GB 11714 checks hold). */
const THIRD_USCC = '91350100M000100Y43';

let declarationCounter = 0;
/** A fresh 18-digit customs declaration number. */
const nextDeclarationNo = () => `2233202600${String(10_000_000 + ++declarationCounter).slice(-8)}`;

describe('customs: CCC exemptions', () => {
  let ctx: TestContext;
  let app: App;
  let api: Client;
  let alerts: AlertSignal[];
  let authority: IssuerFixture;
  let otherAuthority: IssuerFixture;
  let customs: { id: string; key: string };
  let supervisorKey: string;

  /** A CCC exemption of `quantity` units held by USCC.holder, made by USCC.other. */
  const issueExemption = (overrides: Record<string, unknown> = {}, issuer = authority) =>
    issueCertificate(api, issuer.key, {
      scheme: 'CCC_EXEMPTION',
      quantity: 500,
      purpose: 'rd_or_test_samples',
      manufacturer: { name: 'Example Electronics GmbH', uscc: USCC.other },
      factories: [{ name: 'Example Plant Suzhou', uscc: THIRD_USCC }],
      ...overrides,
    });

  const consume = (body: Record<string, unknown>, key = customs.key) =>
    api.post('/v1/customs/exemptions/consume', body, key);

  const declaration = (exemption: { number: string }, overrides: Record<string, unknown> = {}) => ({
    number: exemption.number,
    declarationNo: nextDeclarationNo(),
    quantity: 10,
    importerUscc: USCC.holder,
    port: '5316 Shenzhen Bay',
    model: 'X1-100',
    ...overrides,
  });

  const remainingOf = async (id: string) =>
    (await api.get(`/v1/certificates/${id}`)).body.remaining as number;

  const ledgerRows = async (certificateId: string) =>
    rowsOf<{ n: string }>(
      await ctx.handle.db.execute(
        sql`SELECT count(*) AS n FROM customs_consumptions WHERE certificate_id = ${certificateId}`,
      ),
    )[0]!.n;

  beforeAll(async () => {
    ctx = await createTestContext();
    alerts = [];
    const recordingSink: AlertSink = { raise: async (signal) => void alerts.push(signal) };
    // The service as wired by createServices, but with a sink the tests can read.
    const deps = {
      db: ctx.handle.db,
      config: ctx.config,
      keys: ctx.keys,
      clock: ctx.clock,
      ping: ctx.handle.ping,
    };
    const services = {
      ...createServices(deps),
      customs: new CustomsService(ctx.handle.db, ctx.clock, recordingSink),
    };
    app = createApp(deps, services);
    api = client(app);
    authority = await createIssuer(ctx, {
      name: 'Shenzhen Administration for Market Regulation',
      kind: 'exemption_authority',
      schemes: ['CCC_EXEMPTION', 'CCC'],
      accreditationNo: undefined,
    });
    otherAuthority = await createIssuer(ctx, {
      name: 'Fuzhou Administration for Market Regulation',
      kind: 'exemption_authority',
      schemes: ['CCC_EXEMPTION'],
      accreditationNo: undefined,
    });
    const key = await api.post(
      '/v1/api-keys',
      { role: 'customs', label: 'Shenzhen customs' },
      ctx.adminKey,
    );
    customs = { id: key.body.id, key: key.body.key };
    supervisorKey = await createRoleKey(ctx, 'supervisor');
  });
  afterAll(async () => ctx.close());

  describe('happy path', () => {
    it('deducts an authentic declaration and shows it in the public view and the ledger', async () => {
      const exemption = await issueExemption();
      const body = declaration(exemption);
      const res = await consume(body);
      expect(res.status).toBe(200);
      expect(res.body.verdict).toBe('authentic');
      expect(res.body.reasons).toEqual([]);
      expect(res.body.consumption).toEqual({
        consumed: true,
        quantity: 10,
        remaining: 490,
        replayed: false,
      });
      expect(res.body.certificate).toMatchObject({
        id: exemption.id,
        quantity: 500,
        remaining: 490,
      });
      expect(res.body.checkedAt).toBe('2026-11-24T10:00:00.000Z');
      expect(await remainingOf(exemption.id)).toBe(490);

      const ledger = await api.get(
        `/v1/customs/exemptions/${exemption.id}/consumptions`,
        customs.key,
      );
      expect(ledger.status).toBe(200);
      expect(ledger.body.exemption).toEqual({
        id: exemption.id,
        number: exemption.number,
        quantity: 500,
        remaining: 490,
      });
      expect(ledger.body.total).toBe(1);
      expect(ledger.body.items[0]).toMatchObject({
        declarationNo: body.declarationNo,
        status: 'consumed',
        quantity: 10,
        remainingAfter: 490,
        importerUscc: USCC.holder,
        port: '5316 Shenzhen Bay',
        model: 'X1-100',
        reasons: [],
        apiKeyId: customs.id,
        at: '2026-11-24T10:00:00.000Z',
      });
      expect(alerts.filter((a) => a.certificateId === exemption.id)).toEqual([]);
    });

    it('records every deduction in the audit log in the same transaction', async () => {
      const exemption = await issueExemption();
      const body = declaration(exemption, { quantity: 7 });
      await consume(body);
      const [entry] = rowsOf<{
        action: string;
        actor_key_id: string;
        change: Record<string, unknown>;
      }>(
        await ctx.handle.db.execute(
          sql`SELECT action, actor_key_id, change FROM audit_log WHERE subject_id = ${exemption.id} AND action LIKE 'customs.%'`,
        ),
      );
      expect(entry).toMatchObject({
        action: 'customs.consume',
        actor_key_id: customs.id,
        change: {
          declarationNo: body.declarationNo,
          quantity: 7,
          remainingAfter: 493,
          reasons: [],
        },
      });
    });

    it('accepts a model matched by a wildcard, no model and no port, and the whole remainder', async () => {
      const exemption = await issueExemption({ quantity: 30 });
      const a = await consume(declaration(exemption, { model: 'x1-250', quantity: 10 }));
      expect(a.body.consumption).toMatchObject({ consumed: true, remaining: 20 });
      const { model: _model, port: _port, ...bare } = declaration(exemption, { quantity: 20 });
      const b = await consume(bare);
      expect(b.body.verdict).toBe('authentic');
      expect(b.body.consumption).toMatchObject({ consumed: true, remaining: 0 });
      const c = await consume(declaration(exemption, { quantity: 1 }));
      expect(c.body.reasons.map((r: { code: string }) => r.code)).toEqual(['QUANTITY_EXHAUSTED']);
      // Used up, it covers no import any more, and a plain verification says so. Asked about a
      // day (an import date), verification judges status and validity only: that day's own
      // imports would read as exhausting it.
      const verify = (body: Record<string, unknown>) =>
        api.post('/v1/verify/certificate', { number: exemption.number, ...body });
      const now = await verify({});
      expect(now.body.verdict).toBe('invalid');
      expect(now.body.reasons).toEqual([
        {
          code: 'QUANTITY_EXHAUSTED',
          message: 'the exempted quantity is used up (0 of 30 remain)',
        },
      ]);
      expect(now.body.certificate).toMatchObject({ status: 'valid', quantity: 30, remaining: 0 });
      const onTheDay = await verify({ at: TEST_NOW.slice(0, 10) });
      expect(onTheDay.body).toMatchObject({ verdict: 'authentic', reasons: [] });
    });

    it('resolves a number used by several issuers only with issuerId', async () => {
      const number = `EX-${Date.now()}`;
      const mine = await issueExemption({ number });
      await issueExemption({ number }, otherAuthority);
      const ambiguous = await consume(declaration(mine));
      expect(ambiguous.status).toBe(422);
      expect(ambiguous.body.code).toBe('ambiguous_number');
      const named = await consume(declaration(mine, { issuerId: authority.id }));
      expect(named.status).toBe(200);
      expect(named.body.certificate.id).toBe(mine.id);
      expect(named.body.consumption.consumed).toBe(true);
    });

    it('counts only exemptions among the holders of a number: another scheme shares it freely', async () => {
      const number = `EX-SHARED-${Date.now()}`;
      const exemption = await issueExemption({ number }, otherAuthority);
      await issueCertificate(api, authority.key, { number });
      const res = await consume(declaration(exemption));
      expect(res.status).toBe(200);
      expect(res.body.certificate.id).toBe(exemption.id);
      expect(res.body.consumption).toMatchObject({ consumed: true, remaining: 490 });
    });
  });

  describe('refusals deduct nothing', () => {
    const codes = (res: { body: { reasons: { code: string }[] } }) =>
      res.body.reasons.map((r) => r.code);

    it('HOLDER_MISMATCH: the manufacturer or a factory is not the importer an exemption is granted to', async () => {
      const exemption = await issueExemption();
      for (const importer of [USCC.other, THIRD_USCC]) {
        const body = declaration(exemption, { importerUscc: importer });
        const res = await consume(body);
        expect(res.status).toBe(200);
        expect(res.body.verdict).toBe('misused');
        expect(codes(res)).toEqual(['HOLDER_MISMATCH']);
        expect(res.body.consumption).toEqual({
          consumed: false,
          quantity: 10,
          remaining: 500,
          replayed: false,
        });
        const alert = alerts.find((a) => a.context?.declarationNo === body.declarationNo);
        expect(alert).toMatchObject({
          subjectType: 'certificate',
          subject: exemption.id,
          certificateId: exemption.id,
          issuerId: authority.id,
          verdict: 'misused',
          channel: 'customs.consume',
          context: { declarationNo: body.declarationNo, importer, quantity: 10, port: body.port },
        });
      }
      expect(await remainingOf(exemption.id)).toBe(500);
    });

    it('OUT_OF_SCOPE: a model the exemption does not cover', async () => {
      const exemption = await issueExemption();
      const body = declaration(exemption, { model: 'Z9-900' });
      const res = await consume(body);
      expect(res.body.verdict).toBe('misused');
      expect(codes(res)).toEqual(['OUT_OF_SCOPE']);
      expect(res.body.consumption.consumed).toBe(false);
      expect(alerts.some((a) => a.context?.declarationNo === body.declarationNo)).toBe(true);
      expect(await remainingOf(exemption.id)).toBe(500);
    });

    it('QUANTITY_EXHAUSTED: more than remains; kept as a refused attempt and raised to supervisors', async () => {
      const exemption = await issueExemption();
      const body = declaration(exemption, { quantity: 501 });
      const res = await consume(body);
      expect(res.body.verdict).toBe('invalid');
      expect(codes(res)).toEqual(['QUANTITY_EXHAUSTED']);
      expect(res.body.consumption).toEqual({
        consumed: false,
        quantity: 501,
        remaining: 500,
        replayed: false,
      });
      expect(await remainingOf(exemption.id)).toBe(500);
      expect(alerts.find((a) => a.context?.declarationNo === body.declarationNo)).toMatchObject({
        subjectType: 'certificate',
        subject: exemption.id,
        verdict: 'invalid',
        channel: 'customs.consume',
        context: { importer: USCC.holder, quantity: 501 },
      });
      const deductions = await api.get(
        `/v1/customs/exemptions/${exemption.id}/consumptions`,
        supervisorKey,
      );
      expect(deductions.body.total).toBe(0);
      const refused = await api.get(
        `/v1/customs/exemptions/${exemption.id}/consumptions?status=refused`,
        supervisorKey,
      );
      expect(refused.body.total).toBe(1);
      expect(refused.body.items[0]).toMatchObject({
        declarationNo: body.declarationNo,
        status: 'refused',
        quantity: 501,
        remainingAfter: 500,
        reasons: [{ code: 'QUANTITY_EXHAUSTED' }],
      });
    });

    it.each([
      ['suspended', 'SUSPENDED'],
      ['revoked', 'REVOKED'],
      ['withdrawn', 'WITHDRAWN'],
    ])('%s exemption → %s', async (status, code) => {
      const exemption = await issueExemption();
      const change = await api.post(
        `/v1/certificates/${exemption.id}/status`,
        { status, reason: 'found on inspection', signatory: { name: '李四' } },
        authority.key,
      );
      expect(change.status).toBe(200);
      const body = declaration(exemption);
      const res = await consume(body);
      expect(res.body.verdict).toBe('invalid');
      expect(codes(res)).toEqual([code]);
      expect(res.body.consumption.consumed).toBe(false);
      expect(await remainingOf(exemption.id)).toBe(500);
      // `invalid` is not misuse: no alert.
      expect(alerts.some((a) => a.context?.declarationNo === body.declarationNo)).toBe(false);
    });

    it('a refusal as REVOKED is never stamped before the revocation it cites', async () => {
      // Another instance's clock, ten minutes ahead, recorded the revocation; this one, behind,
      // decides the declaration after it committed.
      const exemption = await issueExemption();
      const ahead = new Date(new Date(TEST_NOW).getTime() + 10 * 60_000);
      ctx.clock.set(ahead);
      try {
        const change = await api.post(
          `/v1/certificates/${exemption.id}/status`,
          { status: 'revoked', reason: 'found on inspection', signatory: { name: '李四' } },
          authority.key,
        );
        expect(change.body.statusChangedAt).toBe(ahead.toISOString());
      } finally {
        ctx.clock.set(TEST_NOW);
      }
      const res = await consume(declaration(exemption));
      expect(codes(res)).toEqual(['REVOKED']);
      expect(res.body.checkedAt).toBe(ahead.toISOString());
      const refused = await api.get(
        `/v1/customs/exemptions/${exemption.id}/consumptions?status=refused`,
        supervisorKey,
      );
      const at = refused.body.items[0].at as string;
      expect(at).toBe(ahead.toISOString());
      // Verification at the refusal's instant agrees with the ledger.
      const then = await api.post('/v1/verify/certificate', { number: exemption.number, at });
      expect(then.body.reasons.map((r: { code: string }) => r.code)).toContain('REVOKED');
    });

    it('EXPIRED and NOT_YET_VALID exemptions', async () => {
      const expired = await issueExemption({ validFrom: '2024-01-01', validUntil: '2026-11-23' });
      const res = await consume(declaration(expired));
      expect(codes(res)).toEqual(['EXPIRED']);
      const early = await issueExemption({ validFrom: '2026-11-25', validUntil: '2027-11-25' });
      const res2 = await consume(declaration(early));
      expect(codes(res2)).toEqual(['NOT_YET_VALID']);
      expect(await remainingOf(expired.id)).toBe(500);
      expect(await remainingOf(early.id)).toBe(500);
    });

    it('ISSUER_SUSPENDED: a suspended exemption authority', async () => {
      const authority2 = await createIssuer(ctx, {
        name: 'Xiamen Administration for Market Regulation',
        kind: 'exemption_authority',
        schemes: ['CCC_EXEMPTION'],
      });
      const exemption = await issueExemption({}, authority2);
      const suspend = await api.post(
        `/v1/issuers/${authority2.id}/status`,
        { status: 'suspended', reason: 'audit' },
        ctx.adminKey,
      );
      expect(suspend.status).toBe(200);
      const res = await consume(declaration(exemption));
      expect(codes(res)).toEqual(['ISSUER_SUSPENDED']);
      expect(res.body.consumption.consumed).toBe(false);
      expect(await remainingOf(exemption.id)).toBe(500);
    });

    it('lists every finding at once', async () => {
      const exemption = await issueExemption();
      const res = await consume(
        declaration(exemption, { importerUscc: USCC.other, model: 'Z9', quantity: 900 }),
      );
      expect(res.body.verdict).toBe('misused');
      expect(codes(res)).toEqual(['HOLDER_MISMATCH', 'OUT_OF_SCOPE', 'QUANTITY_EXHAUSTED']);
    });

    it('an unknown number is forged/NOT_IN_REGISTRY, nothing stored, supervisors told', async () => {
      const body = { ...declaration({ number: 'NO-SUCH-EXEMPTION' }) };
      const res = await consume(body);
      expect(res.status).toBe(200);
      expect(res.body.verdict).toBe('forged');
      expect(codes(res)).toEqual(['NOT_IN_REGISTRY']);
      expect(res.body.certificate).toBeUndefined();
      expect(res.body.consumption).toEqual({
        consumed: false,
        quantity: 10,
        remaining: null,
        replayed: false,
      });
      expect(alerts.find((a) => a.context?.declarationNo === body.declarationNo)).toMatchObject({
        subjectType: 'code',
        subject: 'number:NO-SUCH-EXEMPTION',
        verdict: 'forged',
        channel: 'customs.consume',
      });
      const stored = rowsOf<{ n: string }>(
        await ctx.handle.db.execute(
          sql`SELECT count(*) AS n FROM customs_consumptions WHERE declaration_no = ${body.declarationNo}`,
        ),
      );
      expect(Number(stored[0]!.n)).toBe(0);
    });

    it('a certificate that is not a CCC exemption → 422 not_an_exemption', async () => {
      const ccc = await issueCertificate(api, authority.key);
      const res = await consume(declaration(ccc));
      expect(res.status).toBe(422);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(res.body.code).toBe('not_an_exemption');
      expect(res.body.detail).toMatch(/is a CCC certificate, not a CCC exemption/);
      expect(Number(await ledgerRows(ccc.id))).toBe(0);
    });
  });

  describe('idempotency per declaration', () => {
    it('replays an authentic declaration without deducting again; other content → 409', async () => {
      const exemption = await issueExemption();
      const body = declaration(exemption, { quantity: 25 });
      const first = await consume(body);
      expect(first.body.consumption).toEqual({
        consumed: true,
        quantity: 25,
        remaining: 475,
        replayed: false,
      });
      // Naming the issuer resolves to the same exemption: the same declaration.
      const again = await consume({ ...body, issuerId: authority.id });
      expect(again.status).toBe(200);
      expect(again.body).toEqual({
        ...first.body,
        consumption: { ...first.body.consumption, replayed: true },
      });
      expect(await remainingOf(exemption.id)).toBe(475);

      for (const change of [
        { quantity: 26 },
        { importerUscc: USCC.other },
        { port: 'Xiamen' },
        { model: 'X1-200' },
      ]) {
        const conflict = await consume({ ...body, ...change });
        expect(conflict.status).toBe(409);
        expect(conflict.body.code).toBe('declaration_conflict');
      }
      // A model and a USCC are compared in any case (SPEC): in another case, the same declaration.
      const recased = await consume({
        ...body,
        model: body.model.toLowerCase(),
        importerUscc: body.importerUscc.toLowerCase(),
      });
      expect(recased.status).toBe(200);
      expect(recased.body.consumption).toEqual({ ...first.body.consumption, replayed: true });
      // A declaration stored before models were compared in any case holds the hash of the model
      // as sent: it still replays.
      const stored = await issueExemption();
      const legacy = declaration(stored, { model: 'x1-100' });
      expect((await consume(legacy)).body.consumption.consumed).toBe(true);
      const legacyHash = createHash('sha256')
        .update(
          canonicalJson({
            certificateId: stored.id,
            declarationNo: legacy.declarationNo,
            quantity: legacy.quantity,
            importerUscc: legacy.importerUscc.toUpperCase(),
            port: legacy.port,
            model: legacy.model,
          }),
        )
        .digest('hex');
      await ctx.handle.db.execute(
        sql`UPDATE customs_consumptions SET request_hash = ${legacyHash}
            WHERE declaration_no = ${legacy.declarationNo}`,
      );
      expect((await consume(legacy)).body.consumption.replayed).toBe(true);
      expect((await consume({ ...legacy, model: 'X1-200' })).status).toBe(409);

      const other = await issueExemption();
      const elsewhere = await consume({ ...body, number: other.number });
      expect(elsewhere.status).toBe(409);
      const unknown = await consume({ ...body, number: 'NO-SUCH-EXEMPTION' });
      expect(unknown.status).toBe(409);
      expect(await remainingOf(exemption.id)).toBe(475);
      expect(await remainingOf(other.id)).toBe(500);
    });

    it('a refused declaration stays refused: replays answer the same even once it would pass', async () => {
      const exemption = await issueExemption();
      await api.post(
        `/v1/certificates/${exemption.id}/status`,
        { status: 'suspended', reason: 'pending inspection', signatory: { name: '李四' } },
        authority.key,
      );
      const body = declaration(exemption);
      const refused = await consume(body);
      expect(refused.body.reasons.map((r: { code: string }) => r.code)).toEqual(['SUSPENDED']);
      await api.post(
        `/v1/certificates/${exemption.id}/status`,
        { status: 'valid', reason: 'inspection passed', signatory: { name: '李四' } },
        authority.key,
      );
      const replay = await consume(body);
      expect(replay.body).toEqual({
        ...refused.body,
        consumption: { ...refused.body.consumption, replayed: true },
      });
      expect(await remainingOf(exemption.id)).toBe(500);
      // A new declaration is decided on today's facts.
      const fresh = await consume(declaration(exemption));
      expect(fresh.body.consumption.consumed).toBe(true);
    });
  });

  describe('security', () => {
    it('only customs keys may consume: anonymous 401, issuer/supervisor/admin 403', async () => {
      const exemption = await issueExemption();
      const body = declaration(exemption);
      const anonymous = await consume(body, '');
      expect(anonymous.status).toBe(401);
      expect(anonymous.body.code).toBe('unauthorized');
      for (const key of [authority.key, supervisorKey, ctx.adminKey]) {
        const res = await consume(body, key);
        expect(res.status).toBe(403);
        expect(res.body.code).toBe('forbidden');
      }
      const unknownKey = await consume(body, 'cm_not-a-real-key');
      expect(unknownKey.status).toBe(401);
      expect(await remainingOf(exemption.id)).toBe(500);
      expect(Number(await ledgerRows(exemption.id))).toBe(0);
    });

    it('the ledger is for customs, supervisors and the owning issuer only', async () => {
      const exemption = await issueExemption();
      await consume(declaration(exemption));
      for (const key of [customs.key, supervisorKey, authority.key]) {
        const res = await api.get(`/v1/customs/exemptions/${exemption.id}/consumptions`, key);
        expect(res.status).toBe(200);
        expect(res.body.total).toBe(1);
      }
      expect((await api.get(`/v1/customs/exemptions/${exemption.id}/consumptions`)).status).toBe(
        401,
      );
      for (const key of [otherAuthority.key, ctx.adminKey]) {
        const res = await api.get(`/v1/customs/exemptions/${exemption.id}/consumptions`, key);
        expect(res.status).toBe(403);
      }
      const missing = await api.get(
        '/v1/customs/exemptions/00000000-0000-4000-8000-000000000000/consumptions',
        customs.key,
      );
      expect(missing.status).toBe(404);
      const ccc = await issueCertificate(api, authority.key);
      const notExemption = await api.get(
        `/v1/customs/exemptions/${ccc.id}/consumptions`,
        customs.key,
      );
      expect(notExemption.status).toBe(422);
      expect(notExemption.body.code).toBe('not_an_exemption');
      expect(
        (await api.get('/v1/customs/exemptions/not-a-uuid/consumptions', customs.key)).status,
      ).toBe(400);
    });

    it('pages the ledger newest first', async () => {
      const exemption = await issueExemption();
      const numbers: string[] = [];
      for (let i = 0; i < 5; i++) {
        const body = declaration(exemption, { quantity: 1 });
        numbers.push(body.declarationNo);
        await consume(body);
      }
      const page1 = await api.get(
        `/v1/customs/exemptions/${exemption.id}/consumptions?pageSize=2`,
        customs.key,
      );
      const page3 = await api.get(
        `/v1/customs/exemptions/${exemption.id}/consumptions?pageSize=2&page=3`,
        customs.key,
      );
      expect(page1.body).toMatchObject({ page: 1, pageSize: 2, total: 5 });
      expect(page1.body.items.map((i: { declarationNo: string }) => i.declarationNo)).toEqual([
        numbers[4],
        numbers[3],
      ]);
      expect(page3.body.items.map((i: { declarationNo: string }) => i.declarationNo)).toEqual([
        numbers[0],
      ]);
      const bad = await api.get(
        `/v1/customs/exemptions/${exemption.id}/consumptions?pageSize=1000`,
        customs.key,
      );
      expect(bad.status).toBe(400);
    });
  });

  describe('bad input → 400 problem+json, nothing written', () => {
    it.each([
      ['declarationNo of 17 digits', { declarationNo: '22332026000000001' }, 'declarationNo'],
      ['declarationNo with a letter', { declarationNo: '22332026000000001X' }, 'declarationNo'],
      ['quantity 0', { quantity: 0 }, 'quantity'],
      ['negative quantity', { quantity: -5 }, 'quantity'],
      ['fractional quantity', { quantity: 1.5 }, 'quantity'],
      ['quantity as a string', { quantity: '10' }, 'quantity'],
      ['USCC with a bad check character', { importerUscc: '914403001922038217' }, 'importerUscc'],
      ['lowercase USCC', { importerUscc: '9144030071526726xg' }, 'importerUscc'],
      ['issuerId not a UUID', { issuerId: 'cqc' }, 'issuerId'],
      ['an unknown field', { extra: true }, 'extra'],
      ['a missing number', { number: undefined }, 'number'],
    ])('%s', async (_name, change, path) => {
      const exemption = await issueExemption();
      const auditBefore = rowsOf<{ n: string }>(
        await ctx.handle.db.execute(sql`SELECT count(*) AS n FROM audit_log`),
      )[0]!.n;
      const res = await consume(declaration(exemption, change));
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(res.body.code).toBe('validation_failed');
      expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(path);
      expect(res.text).not.toMatch(/stack|select|insert/i);
      expect(await remainingOf(exemption.id)).toBe(500);
      expect(Number(await ledgerRows(exemption.id))).toBe(0);
      const auditAfter = rowsOf<{ n: string }>(
        await ctx.handle.db.execute(sql`SELECT count(*) AS n FROM audit_log`),
      )[0]!.n;
      expect(auditAfter).toBe(auditBefore);
    });

    it('malformed JSON', async () => {
      const res = await api.call('POST', '/v1/customs/exemptions/consume', {
        key: customs.key,
        body: '{"number": "EX-1", "quantity": ',
      });
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(res.body.code).toBe('malformed_json');
    });
  });

  describe('supervision', () => {
    it('supervisors list refused declarations across exemptions, e.g. over-quantity attempts', async () => {
      const exemption = await issueExemption({ quantity: 5 });
      const overQuantity = declaration(exemption, { quantity: 6 });
      const wrongImporter = declaration(exemption, { importerUscc: USCC.other, quantity: 1 });
      await consume(overQuantity);
      await consume(wrongImporter);
      await consume(declaration(exemption, { quantity: 1 }));

      const exhausted = await api.get(
        '/v1/customs/refusals?reason=QUANTITY_EXHAUSTED',
        supervisorKey,
      );
      expect(exhausted.status).toBe(200);
      const mine = exhausted.body.items.filter(
        (i: { exemption: { id: string } }) => i.exemption.id === exemption.id,
      );
      expect(mine).toEqual([
        expect.objectContaining({
          declarationNo: overQuantity.declarationNo,
          status: 'refused',
          quantity: 6,
          importerUscc: USCC.holder,
          reasons: [expect.objectContaining({ code: 'QUANTITY_EXHAUSTED' })],
          apiKeyId: customs.id,
          exemption: { id: exemption.id, number: exemption.number, issuerId: authority.id },
        }),
      ]);
      const byIssuer = await api.get(
        `/v1/customs/refusals?issuer=${authority.id}&pageSize=100`,
        customs.key,
      );
      const declarations = byIssuer.body.items.map(
        (i: { declarationNo: string }) => i.declarationNo,
      );
      expect(declarations).toContain(overQuantity.declarationNo);
      expect(declarations).toContain(wrongImporter.declarationNo);
      expect(byIssuer.body.items.every((i: { status: string }) => i.status === 'refused')).toBe(
        true,
      );

      expect((await api.get('/v1/customs/refusals')).status).toBe(401);
      expect((await api.get('/v1/customs/refusals', authority.key)).status).toBe(403);
      expect((await api.get('/v1/customs/refusals?reason=NOPE', supervisorKey)).status).toBe(400);
    });

    it('with the service as wired, a misuse at the border becomes a supervisor alert', async () => {
      // ctx.app is createApp() with the supervision feature's own alert sink.
      const wired = client(ctx.app);
      const exemption = await issueExemption();
      const body = declaration(exemption, { importerUscc: USCC.other });
      const res = await wired.post('/v1/customs/exemptions/consume', body, customs.key);
      expect(res.body.verdict).toBe('misused');
      const list = await wired.get('/v1/alerts?reason=HOLDER_MISMATCH&pageSize=100', supervisorKey);
      expect(list.status).toBe(200);
      const alert = list.body.items.find(
        (a: { certificateId: string }) => a.certificateId === exemption.id,
      );
      expect(alert).toMatchObject({
        subjectType: 'certificate',
        subject: exemption.id,
        reason: 'HOLDER_MISMATCH',
        raisedBy: {
          channel: 'customs.consume',
          context: { declarationNo: body.declarationNo, importer: USCC.other },
        },
      });
    });

    it('with the service as wired, an over-quantity attempt reaches supervisors as misuse', async () => {
      const wired = client(ctx.app);
      const exemption = await issueExemption();
      const body = declaration(exemption, { quantity: 10_000 });
      const res = await wired.post('/v1/customs/exemptions/consume', body, customs.key);
      expect(res.body.verdict).toBe('invalid');
      const list = await wired.get(
        '/v1/alerts?reason=QUANTITY_EXHAUSTED&pageSize=100',
        supervisorKey,
      );
      const alert = list.body.items.find(
        (a: { certificateId: string }) => a.certificateId === exemption.id,
      );
      expect(alert).toMatchObject({
        reason: 'QUANTITY_EXHAUSTED',
        severity: 'misused',
        status: 'open',
      });
    });
  });

  it('is described in the OpenAPI document', async () => {
    const doc = await api.get('/openapi.json');
    expect(doc.body.paths['/v1/customs/exemptions/consume'].post).toBeDefined();
    expect(doc.body.paths['/v1/customs/exemptions/{id}/consumptions'].get).toBeDefined();
    expect(doc.body.paths['/v1/customs/refusals'].get).toBeDefined();
  });
});
