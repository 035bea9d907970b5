import jsQR from 'jsqr';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { rowsOf } from '../../src/db/client';
import { client, createTestContext, type Client, type TestContext } from '../helpers';
import {
  USCC,
  certificateBody,
  createIssuer,
  createRoleKey,
  issueCertificate,
  type IssuerFixture,
} from '../fixtures';

describe('certificates', () => {
  let ctx: TestContext;
  let api: Client;
  let issuer: IssuerFixture;

  beforeAll(async () => {
    ctx = await createTestContext();
    api = client(ctx.app);
    issuer = await createIssuer(ctx, { schemes: ['CCC', 'ORGANIC', 'ISO9001', 'CCC_EXEMPTION'] });
  });
  afterAll(async () => ctx.close());

  it('issues: 201 with the public view, the credential, the verify URL and QR links', async () => {
    const res = await api.post(
      '/v1/certificates',
      certificateBody({ number: 'CERT-ISSUE-1' }),
      issuer.key,
    );
    expect(res.status).toBe(201);
    const cert = res.body;
    expect(cert).toMatchObject({
      number: 'CERT-ISSUE-1',
      scheme: 'CCC',
      status: 'valid',
      holder: { uscc: USCC.holder, country: 'CN' },
      issuer: {
        id: issuer.id,
        name: 'China Quality Certification Centre',
        accreditationNo: 'CNCA-R-2002-001',
      },
      signatory: { name: '张三' },
      validFrom: '2024-01-01',
      validUntil: '2029-01-01',
      verifyUrl: `https://certmark.test/c/${cert.id}`,
      qr: {
        svg: `https://certmark.test/v1/certificates/${cert.id}/qr.svg`,
        png: `https://certmark.test/v1/certificates/${cert.id}/qr.png`,
      },
    });
    expect(cert.credential.split('.')).toHaveLength(3);
    expect(cert).not.toHaveProperty('quantity');
    expect((await api.get(`/v1/certificates/${cert.id}`)).body).toMatchObject({
      id: cert.id,
      credential: cert.credential,
    });
  });

  it('its page found by its number typed where the link’s id goes; anything else is no link', async () => {
    const cert = await issueCertificate(api, issuer.key);
    const json = { accept: 'application/json' };
    // To the certificate's own link (its report form then names it), the query kept.
    const typed = await api.get(`/c/${cert.number.toLowerCase()}?lang=en`, undefined, json);
    expect([typed.status, typed.headers.get('location')]).toEqual([302, `/c/${cert.id}?lang=en`]);
    const page = await api.get(typed.headers.get('location')!, undefined, json);
    expect(page.body).toMatchObject({ verdict: 'authentic', certificate: { id: cert.id } });
    for (const junk of ['not-a-link', 'NO-SUCH-NUMBER-1']) {
      const page = await api.get(`/c/${junk}`, undefined, json);
      expect(
        page.body.reasons.map((r: { code: string }) => r.code),
        junk,
      ).toEqual(['MALFORMED']);
    }
  });

  it('a lookup page where a person types a serial or a number, answered by the pages', async () => {
    const cert = await issueCertificate(api, issuer.key);
    // The service's own address, opened in a browser, leads there.
    const root = await api.get('/?lang=en');
    expect([root.status, root.headers.get('location')]).toEqual([302, '/verify?lang=en']);
    const lookup = await api.get('/verify?lang=en');
    expect(lookup.status).toBe(200);
    expect(lookup.headers.get('content-type')).toContain('text/html');
    expect(lookup.text).toContain('action="/m"');
    expect(lookup.text).toContain('action="/c"');
    // A serial typed as printed, in groups: to the mark's page, which reads it as typed.
    const serial = await api.get('/m?code=1234+5678+9012+3456&lang=en');
    expect([serial.status, serial.headers.get('location')]).toEqual([
      302,
      '/m/1234%205678%209012%203456?lang=en',
    ]);
    expect((await api.get('/m?code=+')).headers.get('location')).toBe('/verify');
    // A number: to its certificate's page; one not in the registry is answered as such.
    const number = await api.get(`/c?number=${encodeURIComponent(` ${cert.number} `)}`);
    expect([number.status, number.headers.get('location')]).toEqual([302, `/c/${cert.id}`]);
    const unknown = await api.get('/c?number=NO-SUCH-NUMBER-2&lang=en');
    expect(unknown.status).toBe(200);
    expect(unknown.text).toContain('NOT_IN_REGISTRY');
  });

  it('serves the QR code as SVG and as a PNG that decodes to the verify URL', async () => {
    const cert = await issueCertificate(api, issuer.key);
    const svg = await api.get(`/v1/certificates/${cert.id}/qr.svg`);
    expect(svg.headers.get('content-type')).toBe('image/svg+xml');
    expect(svg.text).toMatch(/^<svg/);
    const png = await ctx.app.request(`/v1/certificates/${cert.id}/qr.png`);
    expect(png.headers.get('content-type')).toBe('image/png');
    const image = PNG.sync.read(Buffer.from(await png.arrayBuffer()));
    const decoded = jsQR(new Uint8ClampedArray(image.data), image.width, image.height);
    expect(decoded?.data).toBe(cert.verifyUrl);
  });

  it('exemptions carry quantity, remaining and purpose', async () => {
    const cert = await issueCertificate(api, issuer.key, {
      scheme: 'CCC_EXEMPTION',
      quantity: 120,
      purpose: 'display_only',
    });
    expect(cert).toMatchObject({ quantity: 120, remaining: 120, purpose: 'display_only' });
  });

  it('keeps a status history with reason and signatory', async () => {
    const cert = await issueCertificate(api, issuer.key);
    const signatory = { name: '李四', title: 'Certification decision maker' };
    await api.post(
      `/v1/certificates/${cert.id}/status`,
      { status: 'suspended', reason: 'failed surveillance', signatory },
      issuer.key,
    );
    const view = (await api.get(`/v1/certificates/${cert.id}`)).body;
    expect(view).toMatchObject({
      status: 'suspended',
      statusReason: 'failed surveillance',
      statusChangedAt: '2026-11-24T10:00:00.000Z',
    });
    const history = (await api.get(`/v1/certificates/${cert.id}/status-history`)).body.items;
    expect(history).toEqual([
      {
        status: 'suspended',
        reason: 'failed surveillance',
        signatory,
        at: '2026-11-24T10:00:00.000Z',
      },
    ]);
  });

  it('a suspended issuer cannot issue', async () => {
    const body = await createIssuer(ctx, { name: 'Soon Suspended' });
    await api.post(
      `/v1/issuers/${body.id}/status`,
      { status: 'suspended', reason: 'audit' },
      ctx.adminKey,
    );
    const res = await api.post('/v1/certificates', certificateBody(), body.key);
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('issuer_suspended');
  });

  it('a suspended issuer may take its certificates out of use, not put one back in use', async () => {
    const body = await createIssuer(ctx, { name: 'Suspended Body' });
    const first = await issueCertificate(api, body.key);
    const second = await issueCertificate(api, body.key);
    const status = (id: string, to: string) =>
      api.post(
        `/v1/certificates/${id}/status`,
        { status: to, reason: 'surveillance', signatory: { name: '王五' } },
        body.key,
      );
    expect((await status(first.id, 'suspended')).status).toBe(200);
    const issuerStatus = (to: string) =>
      api.post(`/v1/issuers/${body.id}/status`, { status: to, reason: 'audit' }, ctx.adminKey);
    expect((await issuerStatus('suspended')).status).toBe(200);

    const refused = await status(first.id, 'valid');
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('issuer_suspended');
    expect((await api.get(`/v1/certificates/${first.id}`)).body.status).toBe('suspended');
    expect((await status(second.id, 'revoked')).status).toBe(200);

    expect((await issuerStatus('active')).status).toBe(200);
    expect((await status(first.id, 'valid')).status).toBe(200);
  });

  it('an issuer status change to the status it has changes nothing: no new time, history or audit entry', async () => {
    const body = await createIssuer(ctx, { name: 'Suspended Once' });
    const path = `/v1/issuers/${body.id}/status`;
    const first = await api.post(path, { status: 'suspended', reason: 'audit' }, ctx.adminKey);
    expect(first.status).toBe(200);
    const entries = async () =>
      rowsOf<{ n: string }>(
        await ctx.handle.db.execute(
          sql`SELECT count(*) AS n FROM audit_log WHERE subject_id = ${body.id} AND action = 'issuer.status'`,
        ),
      )[0]!.n;
    const history = async () =>
      rowsOf<{ n: string }>(
        await ctx.handle.db.execute(
          sql`SELECT count(*) AS n FROM issuer_status_events WHERE issuer_id = ${body.id}`,
        ),
      )[0]!.n;
    const [entriesBefore, historyBefore] = [await entries(), await history()];
    const again = await api.post(path, { status: 'suspended', reason: 'again' }, ctx.adminKey);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({
      status: 'suspended',
      statusReason: 'audit',
      statusChangedAt: first.body.statusChangedAt,
    });
    expect([await entries(), await history()]).toEqual([entriesBefore, historyBefore]);
  });

  it('searches the public registry by number, USCC, holder, scheme and issuer, paginated', async () => {
    const other = await createIssuer(ctx, { name: 'Registry Body', schemes: ['ORGANIC'] });
    for (let i = 0; i < 5; i++) {
      await issueCertificate(api, other.key, {
        number: `ORG-${i}`,
        scheme: 'ORGANIC',
        holder: { name: `Fujian Tea Garden ${i}`, uscc: USCC.other },
        manufacturer: undefined,
        factories: [],
      });
    }
    const page1 = (await api.get(`/v1/registry/certificates?issuer=${other.id}&pageSize=2`)).body;
    expect(page1).toMatchObject({ page: 1, pageSize: 2, total: 5 });
    expect(page1.items.map((c: any) => c.number)).toEqual(['ORG-0', 'ORG-1']);
    const page3 = (await api.get(`/v1/registry/certificates?issuer=${other.id}&pageSize=2&page=3`))
      .body;
    expect(page3.items.map((c: any) => c.number)).toEqual(['ORG-4']);
    // The public searches an issuer by (part of) its name, in any case, as well as by id.
    const byName = (await api.get('/v1/registry/certificates?issuer=registry%20BODY&pageSize=2'))
      .body;
    expect(byName).toMatchObject({ total: 5 });
    expect(byName.items.map((c: any) => c.issuer.id)).toEqual([other.id, other.id]);
    expect((await api.get('/v1/registry/certificates?issuer=No%20Such%20Body')).body.total).toBe(0);
    expect((await api.get('/v1/registry/certificates?issuer=%25')).body.total).toBe(0);
    expect((await api.get('/v1/registry/certificates?number=ORG-3')).body.items).toHaveLength(1);
    // As a person types it: lower case, full-width (an input method), spaced.
    for (const typed of ['org-3', 'ＯＲＧ－３', 'ORG -3'])
      expect(
        (await api.get(`/v1/registry/certificates?number=${encodeURIComponent(typed)}`)).body.items,
        typed,
      ).toHaveLength(1);
    expect(
      (await api.get(`/v1/registry/certificates?uscc=${USCC.other}&scheme=ORGANIC`)).body.total,
    ).toBe(5);
    // A USCC typed in lower case finds the same; one of another length says what it must be.
    expect(
      (await api.get(`/v1/registry/certificates?uscc=${USCC.other.toLowerCase()}`)).body.total,
    ).toBe(5);
    const short = await api.get('/v1/registry/certificates?uscc=9144030071526726X');
    expect(short.status).toBe(400);
    expect(JSON.stringify(short.body)).toContain('must be 18 digits and letters');
    expect(
      (await api.get('/v1/registry/certificates?holder=tea%20garden%202')).body.items[0].number,
    ).toBe('ORG-2');
    for (const item of page1.items) {
      expect(item).not.toHaveProperty('credential');
      expect(JSON.stringify(item)).not.toMatch(/wrapped|seed|"d"/);
    }
  });

  it('API keys: a revoked key stops working at once; ADMIN_API_KEY is idempotent', async () => {
    const created = await api.post(
      '/v1/api-keys',
      { role: 'supervisor', label: 'temp' },
      ctx.adminKey,
    );
    expect(created.body.key).toMatch(/^cm_[A-Za-z0-9_-]{43}$/);
    expect((await api.get('/v1/alerts', created.body.key)).status).toBe(200);
    const listed = (await api.get('/v1/api-keys', ctx.adminKey)).body.items;
    expect(JSON.stringify(listed)).not.toContain(created.body.key);
    // An id sent in upper case names the same key, and is recorded as the database writes it, so
    // the key's history finds the revocation.
    const revoked = await api.delete(
      `/v1/api-keys/${String(created.body.id).toUpperCase()}`,
      ctx.adminKey,
    );
    expect([revoked.status, revoked.body.id]).toEqual([200, created.body.id]);
    expect((await api.get('/v1/alerts', created.body.key)).status).toBe(401);
    // A public read with it is answered as an anonymous one (an invalid key counts like none).
    expect((await api.get('/v1/issuers', created.body.key)).status).toBe(200);
    const history = await api.get(
      `/v1/audit?subject=${created.body.id}&subjectType=api_key`,
      await createRoleKey(ctx, 'supervisor'),
    );
    expect(history.body.items.map((e: { action: string }) => e.action).sort()).toEqual([
      'api_key.create',
      'api_key.revoke',
    ]);
    expect(await ctx.services.apiKeys.ensureAdminKey(ctx.adminKey)).toBe(false);
  });
});
