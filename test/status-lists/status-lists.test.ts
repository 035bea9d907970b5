import { decodeList } from '@digitalbazaar/vc-bitstring-status-list';
import { sql } from 'drizzle-orm';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, createServices } from '../../src/app';
import { client, createTestContext, type Client, type TestContext } from '../helpers';
import { createIssuer, issueCertificate, type IssuerFixture } from '../fixtures';

/**
 * W3C Bitstring Status List v1.0, read as a verifier that is not certmark reads it: the list
 * credential verified with jose's `jwtVerify` against the issuer's keys, `encodedList` decoded with
 * Digital Bazaar's `@digitalbazaar/vc-bitstring-status-list`.
 */
describe('certificate status lists', () => {
  let ctx: TestContext;
  let api: Client;
  let issuer: IssuerFixture;

  interface Entry {
    id: string;
    type: string;
    statusPurpose: 'revocation' | 'suspension';
    statusListIndex: string;
    statusListCredential: string;
  }
  const entriesOf = (credential: string) =>
    (decodeJwt(credential) as { credentialStatus: Entry[] }).credentialStatus;
  const pathOf = (url: string) => new URL(url).pathname;

  /** Fetches a list as any verifier would, verifies it, and reads one bit with the DB decoder. */
  async function bit(entry: Entry): Promise<boolean> {
    const res = await api.get(pathOf(entry.statusListCredential));
    expect(res.status).toBe(200);
    const jwks = createLocalJWKSet((await api.get('/.well-known/jwks.json')).body);
    const { payload } = await jwtVerify(res.text, jwks, {
      typ: 'vc+jwt',
      currentDate: ctx.clock.now(),
    });
    const subject = (
      payload as { credentialSubject: { statusPurpose: string; encodedList: string } }
    ).credentialSubject;
    expect(subject.statusPurpose).toBe(entry.statusPurpose);
    const list = await decodeList({ encodedList: subject.encodedList });
    return list.getStatus(Number(entry.statusListIndex));
  }
  const setStatus = (id: string, status: string) =>
    api.post(
      `/v1/certificates/${id}/status`,
      { status, reason: 'test', signatory: { name: '张三' } },
      issuer.key,
    );

  beforeAll(async () => {
    ctx = await createTestContext();
    api = client(ctx.app);
    issuer = await createIssuer(ctx);
  });
  afterAll(async () => ctx.close());

  it('every credential carries a revocation and a suspension entry', async () => {
    const cert = await issueCertificate(api, issuer.key);
    const entries = entriesOf(cert.credential);
    expect(entries.map((e) => e.statusPurpose)).toEqual(['revocation', 'suspension']);
    for (const entry of entries) {
      expect(entry).toMatchObject({ type: 'BitstringStatusListEntry' });
      expect(entry.statusListIndex).toMatch(/^(0|[1-9]\d*)$/);
      expect(entry.statusListCredential).toMatch(
        /^https:\/\/certmark\.test\/v1\/status-lists\/[0-9a-f-]{36}$/,
      );
      expect(entry.id).toBe(`${entry.statusListCredential}#${entry.statusListIndex}`);
      expect(await bit(entry)).toBe(false);
    }
  });

  it('a list is a BitstringStatusListCredential of at least 131,072 entries, signed by the issuer; validUntil, ttl and Cache-Control agree', async () => {
    const [revocation] = entriesOf((await issueCertificate(api, issuer.key)).credential);
    const res = await api.get(pathOf(revocation!.statusListCredential));
    expect(res.headers.get('content-type')).toBe('application/vc+jwt');
    expect(decodeProtectedHeader(res.text)).toEqual({
      alg: 'EdDSA',
      typ: 'vc+jwt',
      cty: 'vc',
      kid: issuer.kid,
    });
    const list = decodeJwt(res.text) as Record<string, any>;
    expect(list).toMatchObject({
      id: revocation!.statusListCredential,
      type: ['VerifiableCredential', 'BitstringStatusListCredential'],
      issuer: `https://certmark.test/v1/issuers/${issuer.id}`,
      iss: `https://certmark.test/v1/issuers/${issuer.id}`,
      jti: revocation!.statusListCredential,
      credentialSubject: {
        id: `${revocation!.statusListCredential}#list`,
        type: 'BitstringStatusList',
        statusPurpose: 'revocation',
      },
    });
    expect(list.credentialSubject.encodedList).toMatch(/^u[A-Za-z0-9_-]+$/);
    expect((await decodeList({ encodedList: list.credentialSubject.encodedList })).length).toBe(
      131_072,
    );
    const validFrom = Date.parse(list.validFrom);
    const validUntil = Date.parse(list.validUntil);
    expect(validFrom).toBeLessThanOrEqual(ctx.clock.now().getTime());
    expect(validUntil - validFrom).toBe(24 * 3_600_000);
    expect(list.iat).toBe(validFrom / 1000);
    expect(list.exp).toBe(validUntil / 1000);
    expect(list.credentialSubject.ttl).toBe(60_000);
    expect(res.headers.get('cache-control')).toBe('public, max-age=60');
  });

  it('revocation, suspension and reinstatement are in the lists as soon as their 200 is sent', async () => {
    const cert = await issueCertificate(api, issuer.key);
    const [revocation, suspension] = entriesOf(cert.credential);
    expect((await setStatus(cert.id, 'suspended')).status).toBe(200);
    expect([await bit(revocation!), await bit(suspension!)]).toEqual([false, true]);
    expect((await setStatus(cert.id, 'valid')).status).toBe(200);
    expect([await bit(revocation!), await bit(suspension!)]).toEqual([false, false]);
    expect((await setStatus(cert.id, 'withdrawn')).status).toBe(200);
    expect([await bit(revocation!), await bit(suspension!)]).toEqual([true, false]);
    // Another certificate of the same list is untouched.
    const neighbour = await issueCertificate(api, issuer.key);
    expect(await bit(entriesOf(neighbour.credential)[0]!)).toBe(false);
  });

  it('another instance on the same database serves a change made here at once', async () => {
    const other = createApp(
      { db: ctx.handle.db, config: ctx.config, keys: ctx.keys, clock: ctx.clock },
      createServices({ db: ctx.handle.db, config: ctx.config, keys: ctx.keys, clock: ctx.clock }),
    );
    const cert = await issueCertificate(api, issuer.key);
    const [revocation] = entriesOf(cert.credential);
    const before = await client(other).get(pathOf(revocation!.statusListCredential));
    expect((await setStatus(cert.id, 'revoked')).status).toBe(200);
    const after = await client(other).get(pathOf(revocation!.statusListCredential));
    expect(after.headers.get('etag')).not.toBe(before.headers.get('etag'));
    const subject = (decodeJwt(after.text) as any).credentialSubject;
    expect(
      (await decodeList({ encodedList: subject.encodedList })).getStatus(
        Number(revocation!.statusListIndex),
      ),
    ).toBe(true);
    // Both instances sign the same state into the same bytes.
    expect((await api.get(pathOf(revocation!.statusListCredential))).text).toBe(after.text);
  });

  it('an issuer’s suspension sets the suspension bit of all its certificates, and its reinstatement clears them (but not a certificate’s own)', async () => {
    const body = await createIssuer(ctx, { name: 'Suspended Body' });
    const own = await issueCertificate(api, body.key);
    const other = await issueCertificate(api, body.key);
    expect(
      (
        await api.post(
          `/v1/certificates/${own.id}/status`,
          { status: 'suspended', reason: 'own', signatory: { name: '张三' } },
          body.key,
        )
      ).status,
    ).toBe(200);
    const suspensionOf = (c: any) => entriesOf(c.credential)[1]!;
    const issuerStatus = (status: string) =>
      api.post(`/v1/issuers/${body.id}/status`, { status, reason: 'inspection' }, ctx.adminKey);
    expect((await issuerStatus('suspended')).status).toBe(200);
    expect([await bit(suspensionOf(own)), await bit(suspensionOf(other))]).toEqual([true, true]);
    expect((await issuerStatus('active')).status).toBe(200);
    expect([await bit(suspensionOf(own)), await bit(suspensionOf(other))]).toEqual([true, false]);
  });

  it('ETag and If-None-Match: 304 while the list is unchanged, 200 after a change; reads do not sign', async () => {
    const cert = await issueCertificate(api, issuer.key);
    const path = pathOf(entriesOf(cert.credential)[1]!.statusListCredential);
    const first = await api.get(path);
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    const signaturesBefore = ctx.services.statusLists.signatures;
    for (let i = 0; i < 50; i += 1) {
      const again = await api.get(path, undefined, { 'if-none-match': etag });
      expect(again.status).toBe(304);
      expect(again.headers.get('etag')).toBe(etag);
      expect(again.headers.get('cache-control')).toBe('public, max-age=60');
      expect(again.text).toBe('');
    }
    for (let i = 0; i < 20; i += 1) expect((await api.get(path)).text).toBe(first.text);
    expect(ctx.services.statusLists.signatures).toBe(signaturesBefore);
    expect((await api.get(path, undefined, { 'if-none-match': `W/${etag}, "x"` })).status).toBe(
      304,
    );
    expect((await api.get(path, undefined, { 'if-none-match': '"stale"' })).status).toBe(200);
    expect((await setStatus(cert.id, 'suspended')).status).toBe(200);
    const changed = await api.get(path, undefined, { 'if-none-match': etag });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).not.toBe(etag);
    // An hour later the list is signed again (validUntil moves on) even without a change.
    ctx.clock.advance(3_600_000);
    const later = await api.get(path, undefined, { 'if-none-match': changed.headers.get('etag')! });
    expect(later.status).toBe(200);
    expect(Date.parse((decodeJwt(later.text) as any).validFrom)).toBe(
      Math.floor(ctx.clock.now().getTime() / 3_600_000) * 3_600_000,
    );
  });

  it('indexes are random and never handed out twice; a full list makes way for a new one', async () => {
    const body = await createIssuer(ctx, { name: 'Many Certificates Body' });
    const indexes: number[] = [];
    let listUrl = '';
    for (let i = 0; i < 24; i += 1) {
      const [revocation] = entriesOf((await issueCertificate(api, body.key)).credential);
      indexes.push(Number(revocation!.statusListIndex));
      listUrl = revocation!.statusListCredential;
    }
    expect(new Set(indexes).size).toBe(24);
    // Sequential allocation would give 0…23; random indexes spread over the whole list.
    expect(Math.max(...indexes)).toBeGreaterThan(24);
    expect(indexes).not.toEqual([...indexes].sort((a, b) => a - b));
    const listId = listUrl.split('/').pop()!;
    await expect(
      ctx.handle.db.execute(
        sql`INSERT INTO status_list_entries (list_id, index, certificate_id)
            SELECT list_id, index, certificate_id FROM status_list_entries WHERE list_id = ${listId} LIMIT 1`,
      ),
    ).rejects.toThrow();
    await ctx.handle.db.execute(
      sql`UPDATE status_lists SET allocated = 98304 WHERE id = ${listId}`,
    );
    const [next] = entriesOf((await issueCertificate(api, body.key)).credential);
    expect(next!.statusListCredential).not.toBe(listUrl);
  });

  it('an unknown list is 404, a malformed id 400 (problem+json)', async () => {
    const missing = await api.get('/v1/status-lists/00000000-0000-4000-8000-000000000000');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect((await api.get('/v1/status-lists/nope')).status).toBe(400);
  });
});
