import { decodeList } from '@digitalbazaar/vc-bitstring-status-list';
import { sql } from 'drizzle-orm';
import {
  base64url,
  CompactSign,
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  importJWK,
  jwtVerify,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/db/client';
import { publicKeyFromSeed } from '../../src/crypto/ed25519';
import { client, createTestContext, TEST_NOW, type Client, type TestContext } from '../helpers';
import { createIssuer, issueCertificate, type IssuerFixture } from '../fixtures';

/**
 * The credential's JOSE header and claims per VC-JOSE-COSE §3.1.1, checked with jose's
 * `jwtVerify` and its default time checks (an implementation we did not write): `iat`/`exp` are
 * the signature's, so the credential of an expired or not-yet-valid certificate still verifies as
 * a JWT; that the certificate is expired is the verifier's finding from `validUntil`.
 */
describe('credential claims (VC-JOSE-COSE)', () => {
  let ctx: TestContext;
  let api: Client;
  let issuer: IssuerFixture;
  let jwks: ReturnType<typeof createLocalJWKSet>;

  beforeAll(async () => {
    ctx = await createTestContext();
    api = client(ctx.app);
    issuer = await createIssuer(ctx);
    jwks = createLocalJWKSet((await api.get('/.well-known/jwks.json')).body);
  });
  afterAll(async () => ctx.close());

  it('header { alg: EdDSA, typ: vc+jwt, cty: vc, kid }; iss = issuer.id, jti = id, iat = signing time, no nbf, no exp', async () => {
    const cert = await issueCertificate(api, issuer.key);
    expect(decodeProtectedHeader(cert.credential)).toEqual({
      alg: 'EdDSA',
      typ: 'vc+jwt',
      cty: 'vc',
      kid: issuer.kid,
    });
    const claims = decodeJwt(cert.credential) as Record<string, any>;
    expect(claims.iss).toBe(claims.issuer.id);
    expect(claims.iss).toBe(`https://certmark.test/v1/issuers/${issuer.id}`);
    expect(claims.jti).toBe(claims.id);
    expect(claims.iat).toBe(Date.parse(TEST_NOW) / 1000);
    expect(claims).not.toHaveProperty('nbf');
    expect(claims).not.toHaveProperty('exp');
    expect(claims.validFrom).toBe('2023-12-31T16:00:00.000Z');
    expect(claims.validUntil).toBe('2029-01-01T15:59:59.999Z');
  });

  it('jose jwtVerify with default checks accepts the credential of an expired and of a not-yet-valid certificate', async () => {
    for (const days of [
      { validFrom: '2019-01-01', validUntil: '2020-12-31' },
      { validFrom: '2090-01-01', validUntil: '2095-12-31' },
    ]) {
      const cert = await issueCertificate(api, issuer.key, days);
      const { payload, protectedHeader } = await jwtVerify(cert.credential, jwks, {
        typ: 'vc+jwt',
      });
      expect(protectedHeader.kid).toBe(issuer.kid);
      expect(payload.jti).toBe(`urn:uuid:${cert.id}`);
      // …and the service itself calls it what it is.
      const answer = await api.post('/v1/verify/certificate', { credential: cert.credential });
      expect(answer.body.reasons.map((r: { code: string }) => r.code)).toEqual([
        days.validFrom < '2026' ? 'EXPIRED' : 'NOT_YET_VALID',
      ]);
    }
  });

  it('credentials of the former format are signed again at start, with an audit entry', async () => {
    const cert = await issueCertificate(api, issuer.key);
    // The credential as the service signed it before: nbf/exp from the validity days, no cty.
    const former: Record<string, unknown> = {
      ...decodeJwt(cert.credential),
      nbf: 1704038400,
      exp: 1861977599,
    };
    const signer = await ctx.services.vault.currentSigner(ctx.handle.db, issuer.id);
    const key = await importJWK(
      {
        kty: 'OKP',
        crv: 'Ed25519',
        d: base64url.encode(signer.seed),
        x: base64url.encode(publicKeyFromSeed(signer.seed)),
      },
      'EdDSA',
    );
    const formerJws = await new CompactSign(new TextEncoder().encode(JSON.stringify(former)))
      .setProtectedHeader({ alg: 'EdDSA', typ: 'vc+jwt', kid: signer.kid })
      .sign(key);
    // …of a certificate revoked back then, before status lists: no entries.
    await ctx.handle.db.execute(
      sql`DELETE FROM status_list_entries WHERE certificate_id = ${cert.id}`,
    );
    await ctx.handle.db.execute(
      sql`UPDATE certificates SET credential = ${formerJws}, credential_format = 1, status = 'revoked' WHERE id = ${cert.id}`,
    );
    ctx.clock.set('2026-11-24T10:05:00.000Z');
    expect(await ctx.services.certificates.upgradeCredentials()).toBe(1);
    expect(await ctx.services.certificates.upgradeCredentials()).toBe(0);

    const stored = (await api.get(`/v1/certificates/${cert.id}`)).body.credential as string;
    expect(decodeProtectedHeader(stored).cty).toBe('vc');
    const claims = decodeJwt(stored);
    expect(claims).not.toHaveProperty('exp');
    expect(claims).not.toHaveProperty('nbf');
    expect(claims.iat).toBe(Date.parse('2026-11-24T10:05:00.000Z') / 1000);
    expect(claims.credentialSubject).toEqual(former.credentialSubject);
    // It now has its status list entries, and its revocation bit says revoked.
    const [revocation, suspension] = claims.credentialStatus as {
      statusPurpose: string;
      statusListIndex: string;
      statusListCredential: string;
    }[];
    expect([revocation!.statusPurpose, suspension!.statusPurpose]).toEqual([
      'revocation',
      'suspension',
    ]);
    const list = decodeJwt(
      (await api.get(new URL(revocation!.statusListCredential).pathname)).text,
    ) as { credentialSubject: { encodedList: string } };
    expect(
      (await decodeList({ encodedList: list.credentialSubject.encodedList })).getStatus(
        Number(revocation!.statusListIndex),
      ),
    ).toBe(true);
    const [audit] = rowsOf<{ subject_id: string; change: { resigned: number; format: number } }>(
      await ctx.handle.db.execute(
        sql`SELECT subject_id, change FROM audit_log WHERE action = 'certificate.credentials.upgrade'`,
      ),
    );
    expect(audit).toMatchObject({ subject_id: issuer.id, change: { resigned: 1, format: 3 } });
    // The copy a holder kept still verifies, and says what the registry says.
    const answer = await api.post('/v1/verify/certificate', { credential: formerJws });
    expect(answer.body.reasons.map((r: { code: string }) => r.code)).toEqual(['REVOKED']);
    ctx.clock.set(TEST_NOW);
  });
});
