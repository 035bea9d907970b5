import { createHmac } from 'node:crypto';
import { CompactSign, compactVerify, createLocalJWKSet, importJWK } from 'jose';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompromiseSweeper } from '../../src/certificates/compromise-sweeper';
import { ed25519Jwk, generateSigningKey, jwkThumbprint } from '../../src/crypto/ed25519';
import { client, createTestContext, type Client, type TestContext } from '../helpers';
import {
  USCC,
  certificateBody,
  createIssuer,
  createRoleKey,
  issueCertificate,
  type IssuerFixture,
} from '../fixtures';

const b64 = (v: unknown) =>
  Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

describe('POST /v1/verify/certificate', () => {
  let ctx: TestContext;
  let api: Client;
  let issuer: IssuerFixture;
  let cert: any;

  const verify = async (body: Record<string, unknown>) => {
    const res = await api.post('/v1/verify/certificate', body);
    expect(res.status, res.text).toBe(200);
    return res.body as {
      verdict: string;
      reasons: { code: string; message: string }[];
      certificate?: any;
    };
  };
  const codes = (answer: { reasons: { code: string }[] }) =>
    answer.reasons.map((r) => r.code).sort();

  beforeAll(async () => {
    ctx = await createTestContext();
    api = client(ctx.app);
    issuer = await createIssuer(ctx);
    cert = await issueCertificate(api, issuer.key);
  });
  afterAll(async () => ctx.close());

  describe('authentic', () => {
    it('by credential and by number', async () => {
      for (const body of [{ credential: cert.credential }, { number: cert.number }]) {
        const answer = await verify(body);
        expect(answer).toMatchObject({ verdict: 'authentic', reasons: [] });
        expect(answer.certificate).toMatchObject({
          id: cert.id,
          number: cert.number,
          status: 'valid',
        });
      }
    });

    it('by the number as a person types it: lower case, full-width, spaced', async () => {
      // Answered "forged" (and alerted on) before: a contract probe typed the number in lower case.
      const fullWidth = [...cert.number]
        .map((c: string) => String.fromCodePoint(c.codePointAt(0)! + 0xfee0))
        .join('');
      const spaced = `${cert.number.slice(0, 4)} ${cert.number.slice(4)}`;
      for (const typed of [cert.number.toLowerCase(), fullWidth, spaced, ` ${cert.number}\t`]) {
        const answer = await verify({ number: typed });
        expect(answer.verdict, typed).toBe('authentic');
        expect(answer.certificate.id).toBe(cert.id);
        expect(codes(await verify({ credential: cert.credential, number: typed }))).toEqual([]);
      }
      // A number one character off is still no certificate.
      expect(codes(await verify({ number: `${cert.number}9` }))).toEqual(['NOT_IN_REGISTRY']);
    });

    it('prefers the number exactly as typed when another certificate holds its capitals', async () => {
      const lower = await issueCertificate(api, issuer.key, { number: 'case-0001' });
      const upper = await issueCertificate(api, issuer.key, { number: 'CASE-0001' });
      expect((await verify({ number: 'case-0001' })).certificate.id).toBe(lower.id);
      expect((await verify({ number: 'CASE-0001' })).certificate.id).toBe(upper.id);
      expect((await verify({ number: 'Case-0001' })).certificate.id).toBe(upper.id);
    });

    it('for the holder, the manufacturer or a factory, and for models in scope (wildcard, any case)', async () => {
      for (const model of ['X1-100', 'x1-100', 'X1-2000', 'x1-2ab']) {
        expect(
          (
            await verify({
              number: cert.number,
              presenter: { uscc: USCC.holder },
              product: { model },
            })
          ).verdict,
        ).toBe('authentic');
      }
    });

    it('is verifiable by a third party with jose and the published JWKS', async () => {
      const jwks = await api.get('/.well-known/jwks.json');
      const { payload, protectedHeader } = await compactVerify(
        cert.credential,
        createLocalJWKSet(jwks.body),
        {
          algorithms: ['EdDSA'],
        },
      );
      expect(protectedHeader).toEqual({ alg: 'EdDSA', typ: 'vc+jwt', cty: 'vc', kid: issuer.kid });
      const vc = JSON.parse(new TextDecoder().decode(payload));
      expect(vc['@context'][0]).toBe('https://www.w3.org/ns/credentials/v2');
      expect(vc.type).toContain('VerifiableCredential');
      expect(vc).toHaveProperty('credentialStatus');
      for (const claim of ['iss', 'jti', 'iat', 'validFrom', 'validUntil', 'credentialSubject']) {
        expect(vc).toHaveProperty(claim);
      }
      // VC-JOSE-COSE §3.1.1: iat/exp are the signature's; nbf is NOT RECOMMENDED.
      expect(vc).not.toHaveProperty('nbf');
      expect(vc).not.toHaveProperty('exp');
      expect(vc.jti).toBe(`urn:uuid:${cert.id}`);
      expect(vc.id).toBe(vc.jti);
      expect(vc.iss).toBe(vc.issuer.id);
    });
  });

  describe('forged', () => {
    it('MALFORMED: not a credential at all', async () => {
      for (const credential of [
        'hello',
        'a.b.c',
        `${b64({ alg: 'EdDSA', typ: 'vc+jwt', kid: 'x' })}.bm90IGpzb24.${'A'.repeat(86)}`,
      ]) {
        const answer = await verify({ credential });
        expect(answer.verdict).toBe('forged');
        expect(codes(answer)).toEqual(['MALFORMED']);
      }
    });

    it('BAD_SIGNATURE: a modified payload, header or signature', async () => {
      const [h, p, s] = cert.credential.split('.');
      const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
      payload.credentialSubject.certificate.scope[0].models.push('Z9-*');
      const tamperedSig = Buffer.from(s, 'base64url');
      tamperedSig[5]! ^= 1;
      for (const credential of [
        `${h}.${b64(payload)}.${s}`,
        `${b64({ alg: 'EdDSA', typ: 'vc+jwt', kid: issuer.kid, x: 1 })}.${p}.${s}`,
        `${h}.${p}.${tamperedSig.toString('base64url')}`,
      ]) {
        expect(codes(await verify({ credential }))).toEqual(['BAD_SIGNATURE']);
      }
    });

    it('BAD_SIGNATURE: a signature made malleable (S + L) is refused', async () => {
      const [h, p, s] = cert.credential.split('.');
      const sig = Buffer.from(s, 'base64url');
      const L = 2n ** 252n + 27742317777372353535851937790883648493n;
      const S = BigInt('0x' + Buffer.from(sig.subarray(32)).reverse().toString('hex')) + L;
      const sPlusL = Buffer.from(S.toString(16).padStart(64, '0'), 'hex').reverse();
      const forged = Buffer.concat([sig.subarray(0, 32), sPlusL]).toString('base64url');
      expect(codes(await verify({ credential: `${h}.${p}.${forged}` }))).toEqual(['BAD_SIGNATURE']);
    });

    it('UNKNOWN_KEY: signed by a key certmark never published', async () => {
      const attacker = generateSigningKey();
      const kid = jwkThumbprint(attacker.publicKey);
      const key = await importJWK(
        { ...ed25519Jwk(attacker.publicKey), d: Buffer.from(attacker.seed).toString('base64url') },
        'EdDSA',
      );
      const [, p] = cert.credential.split('.');
      const jws = await new CompactSign(Buffer.from(p, 'base64url'))
        .setProtectedHeader({ alg: 'EdDSA', typ: 'vc+jwt', kid })
        .sign(key);
      expect(codes(await verify({ credential: jws }))).toEqual(['UNKNOWN_KEY']);
    });

    it('refuses every JWS attack class of the Wycheproof catalogue, re-made for EdDSA', async () => {
      const [h, p, s] = cert.credential.split('.');
      const jwks = (await api.get('/.well-known/jwks.json')).body;
      const publicX = jwks.keys.find((k: any) => k.kid === issuer.kid).x as string;
      const attacker = generateSigningKey();
      const attackerJwk = ed25519Jwk(attacker.publicKey);
      const attackerKey = await importJWK(
        { ...attackerJwk, d: Buffer.from(attacker.seed).toString('base64url') },
        'EdDSA',
      );
      const signAsAttacker = (header: Record<string, unknown>) =>
        new CompactSign(Buffer.from(p, 'base64url'))
          .setProtectedHeader(header as any)
          .sign(attackerKey);
      const hmacWithPublicKey = (header: Record<string, unknown>) => {
        const input = `${b64(header)}.${p}`;
        return `${input}.${createHmac('sha256', Buffer.from(publicX, 'base64url')).update(input).digest('base64url')}`;
      };
      const attacks: Record<string, string> = {
        algNone: `${b64({ alg: 'none', typ: 'vc+jwt', kid: issuer.kid })}.${p}.`,
        algNoneWithSignature: `${b64({ alg: 'none', typ: 'vc+jwt', kid: issuer.kid })}.${p}.${s}`,
        hs256WithPublicKey: hmacWithPublicKey({ alg: 'HS256', typ: 'vc+jwt', kid: issuer.kid }),
        hs256WithPublicKeyText: hmacWithPublicKey({
          alg: 'HS256',
          typ: 'vc+jwt',
          kid: issuer.kid,
          k: publicX,
        }),
        algRelabelled: `${b64({ alg: 'ES256', typ: 'vc+jwt', kid: issuer.kid })}.${p}.${s}`,
        embeddedJwk: await signAsAttacker({
          alg: 'EdDSA',
          typ: 'vc+jwt',
          kid: issuer.kid,
          jwk: attackerJwk,
        }),
        jku: await signAsAttacker({
          alg: 'EdDSA',
          typ: 'vc+jwt',
          kid: issuer.kid,
          jku: 'https://evil.example/jwks.json',
        }),
        x5u: await signAsAttacker({
          alg: 'EdDSA',
          typ: 'vc+jwt',
          kid: issuer.kid,
          x5u: 'https://evil.example/cert.pem',
        }),
        unknownCrit: `${b64({ alg: 'EdDSA', typ: 'vc+jwt', kid: issuer.kid, crit: ['exp'], exp: 1 })}.${p}.${s}`,
        unencodedPayload: `${b64({ alg: 'EdDSA', typ: 'vc+jwt', kid: issuer.kid, b64: false, crit: ['b64'] })}.${p}.${s}`,
        attackerKeyClaimsIssuerKid: await signAsAttacker({
          alg: 'EdDSA',
          typ: 'vc+jwt',
          kid: issuer.kid,
        }),
        jsonSerialization: JSON.stringify({ protected: h, payload: p, signature: s }),
        extraComponent: `${h}.${p}.${s}.${s}`,
        extraEmptyComponent: `${h}.${p}.${s}.`,
        missingHeader: `.${p}.${s}`,
        missingPayload: `${h}..${s}`,
        missingSignature: `${h}.${p}.`,
        missingSignatureAndSeparator: `${h}.${p}`,
        emptyString: '',
        paddedBase64: `${h}.${p}.${s}==`,
        spacesInSignature: `${h}.${p}.${s.slice(0, 10)} ${s.slice(10)}`,
        invalidCharacter: `${h}.${p}.${s.slice(0, 10)}*${s.slice(11)}`,
        truncatedSignature: `${h}.${p}.${s.slice(0, 80)}`,
        trailingZeros: `${h}.${p}.${Buffer.concat([Buffer.from(s, 'base64url'), Buffer.alloc(2)]).toString('base64url')}`,
        wrongTyp: `${b64({ alg: 'EdDSA', typ: 'JWT', kid: issuer.kid })}.${p}.${s}`,
        oversized: `${h}.${'A'.repeat(70_000)}.${s}`,
      };
      for (const [name, credential] of Object.entries(attacks)) {
        if (credential === '') {
          // An empty credential is not a well-formed request: 400, not a verdict.
          expect((await api.post('/v1/verify/certificate', { credential })).status).toBe(400);
          continue;
        }
        const answer = await verify({ credential });
        expect(answer.verdict, name).toBe('forged');
        expect(answer.certificate, name).toBeUndefined();
      }
    });

    it('NOT_IN_REGISTRY: an unknown number', async () => {
      const answer = await verify({ number: 'NO-SUCH-NUMBER' });
      expect(answer.verdict).toBe('forged');
      expect(codes(answer)).toEqual(['NOT_IN_REGISTRY']);
    });

    it('NOT_IN_REGISTRY and REGISTRY_MISMATCH: a genuine key signing what the registry does not hold', async () => {
      // The issuer's own key (as if stolen or misused outside certmark) signs a fabricated credential.
      const signer = await ctx.services.vault.currentSigner(ctx.handle.db, issuer.id);
      const key = await importJWK(
        { ...ed25519Jwk(signer.publicKey), d: Buffer.from(signer.seed).toString('base64url') },
        'EdDSA',
      );
      const payload = JSON.parse(
        Buffer.from(cert.credential.split('.')[1], 'base64url').toString(),
      );
      const sign = (body: unknown) =>
        new CompactSign(Buffer.from(JSON.stringify(body)))
          .setProtectedHeader({ alg: 'EdDSA', typ: 'vc+jwt', kid: signer.kid })
          .sign(key);

      const unknownId = {
        ...payload,
        id: 'urn:uuid:00000000-0000-4000-8000-000000000000',
        jti: 'urn:uuid:00000000-0000-4000-8000-000000000000',
      };
      expect(codes(await verify({ credential: await sign(unknownId) }))).toEqual([
        'NOT_IN_REGISTRY',
      ]);

      const widened = structuredClone(payload);
      widened.credentialSubject.certificate.scope[0].models = ['*'];
      const answer = await verify({ credential: await sign(widened) });
      expect(answer.verdict).toBe('forged');
      expect(codes(answer)).toEqual(['REGISTRY_MISMATCH']);
      expect(answer.certificate.scope[0].models).toEqual(['X1-100', 'X1-2*']);
    });

    it('REGISTRY_MISMATCH: a genuine credential presented as another number or another issuer’s', async () => {
      expect(codes(await verify({ credential: cert.credential, number: cert.number }))).toEqual([]);
      expect(codes(await verify({ credential: cert.credential, issuerId: issuer.id }))).toEqual([]);
      const other = await createIssuer(ctx, { name: 'Named Body' });
      for (const claim of [{ number: 'NOT-ITS-NUMBER' }, { issuerId: other.id }]) {
        const answer = await verify({ credential: cert.credential, ...claim });
        expect(answer.verdict, JSON.stringify(claim)).toBe('forged');
        expect(codes(answer)).toEqual(['REGISTRY_MISMATCH']);
        expect(answer.certificate.id).toBe(cert.id);
      }
    });

    it('UNKNOWN_ISSUER: a credential naming an issuer other than its signer', async () => {
      const signer = await ctx.services.vault.currentSigner(ctx.handle.db, issuer.id);
      const key = await importJWK(
        { ...ed25519Jwk(signer.publicKey), d: Buffer.from(signer.seed).toString('base64url') },
        'EdDSA',
      );
      const payload = JSON.parse(
        Buffer.from(cert.credential.split('.')[1], 'base64url').toString(),
      );
      payload.iss = 'https://certmark.test/v1/issuers/00000000-0000-4000-8000-000000000000';
      const jws = await new CompactSign(Buffer.from(JSON.stringify(payload)))
        .setProtectedHeader({ alg: 'EdDSA', typ: 'vc+jwt', kid: signer.kid })
        .sign(key);
      expect(codes(await verify({ credential: jws }))).toEqual(['UNKNOWN_ISSUER']);
    });
  });

  describe('misused', () => {
    it('HOLDER_MISMATCH: presented by a company that is not a party to it', async () => {
      const answer = await verify({ credential: cert.credential, presenter: { uscc: USCC.other } });
      expect(answer.verdict).toBe('misused');
      expect(codes(answer)).toEqual(['HOLDER_MISMATCH']);
    });

    it('OUT_OF_SCOPE: a model not covered', async () => {
      for (const model of ['X1-1000', 'X2-100', 'X1-']) {
        const answer = await verify({ number: cert.number, product: { model } });
        expect(answer.verdict, model).toBe('misused');
        expect(codes(answer)).toEqual(['OUT_OF_SCOPE']);
      }
    });
  });

  it('a scope of * alone covers every model (as a management system certificate has it)', async () => {
    const everything = await issueCertificate(api, issuer.key, {
      scope: [{ product: 'Design and manufacture of electronic products', models: ['*'] }],
    });
    expect(everything.scope[0].models).toEqual(['*']);
    for (const model of ['X1-100', 'anything', '*']) {
      const answer = await verify({ number: everything.number, product: { model } });
      expect(answer.verdict, model).toBe('authentic');
    }
  });

  it('a management system, service or farm scope may name no models, and then covers every model; CCC must name them', async () => {
    const system = await issueCertificate(api, issuer.key, {
      scheme: 'ISO9001',
      scope: [{ product: 'Design and manufacture of laptops' }],
    });
    expect(system.scope).toEqual([{ product: 'Design and manufacture of laptops' }]);
    for (const model of ['X1-100', 'anything']) {
      const answer = await verify({ number: system.number, product: { model } });
      expect(answer.verdict, model).toBe('authentic');
    }
    // Its credential, re-checked against the record, matches it (no models on either side).
    expect(codes(await verify({ credential: system.credential }))).toEqual([]);
    for (const scheme of ['CCC', 'CCC_EXEMPTION']) {
      const refused = await api.post(
        '/v1/certificates',
        certificateBody({
          scheme,
          scope: [{ product: 'Laptop computer' }],
          ...(scheme === 'CCC_EXEMPTION' ? { quantity: 5, purpose: 'display_only' } : {}),
        }),
        issuer.key,
      );
      expect(refused.status, scheme).toBe(400);
      expect(refused.body.errors).toEqual([
        { path: 'scope.0.models', message: expect.stringContaining(`required for ${scheme}`) },
      ]);
    }
  });

  describe('invalid', () => {
    it('NOT_YET_VALID and EXPIRED by the validity days', async () => {
      const future = await issueCertificate(api, issuer.key, {
        validFrom: '2027-01-01',
        validUntil: '2030-01-01',
      });
      expect(codes(await verify({ credential: future.credential }))).toEqual(['NOT_YET_VALID']);
      const past = await issueCertificate(api, issuer.key, {
        validFrom: '2019-01-01',
        validUntil: '2024-01-01',
      });
      const answer = await verify({ credential: past.credential });
      expect(answer.verdict).toBe('invalid');
      expect(codes(answer)).toEqual(['EXPIRED']);
      expect(answer.certificate.status).toBe('expired');
      // validUntil is the last valid day
      const lastDay = await issueCertificate(api, issuer.key, {
        validFrom: '2020-01-01',
        validUntil: '2026-11-24',
      });
      expect((await verify({ number: lastDay.number })).verdict).toBe('authentic');
    });

    it('SUSPENDED, then valid again, then REVOKED; and WITHDRAWN; answered from history with `at`', async () => {
      const c = await issueCertificate(api, issuer.key);
      const change = (status: string) =>
        api.post(
          `/v1/certificates/${c.id}/status`,
          { status, reason: `test ${status}`, signatory: { name: '李四' } },
          issuer.key,
        );

      ctx.clock.set('2026-11-24T10:00:00Z');
      expect((await change('suspended')).status).toBe(200);
      expect(codes(await verify({ credential: c.credential }))).toEqual(['SUSPENDED']);
      ctx.clock.set('2026-11-26T10:00:00Z');
      expect((await change('valid')).status).toBe(200);
      expect((await verify({ credential: c.credential })).verdict).toBe('authentic');
      ctx.clock.set('2026-11-28T10:00:00Z');
      expect((await change('revoked')).status).toBe(200);
      const revoked = await verify({ credential: c.credential });
      expect(revoked.verdict).toBe('invalid');
      expect(codes(revoked)).toEqual(['REVOKED']);
      expect((await change('valid')).body.code).toBe('status_final');
      expect((await change('revoked')).body.code).toBe('status_final');

      // The status history answers "was it valid on that day".
      expect((await verify({ credential: c.credential, at: '2026-11-20' })).verdict).toBe(
        'authentic',
      );
      expect(codes(await verify({ credential: c.credential, at: '2026-11-25' }))).toEqual([
        'SUSPENDED',
      ]);
      expect((await verify({ credential: c.credential, at: '2026-11-27' })).verdict).toBe(
        'authentic',
      );
      expect(codes(await verify({ credential: c.credential, at: '2026-11-28T12:00:00Z' }))).toEqual(
        ['REVOKED'],
      );
      expect(codes(await verify({ credential: c.credential, at: '2023-06-01' }))).toEqual([
        'NOT_YET_VALID',
      ]);

      const w = await issueCertificate(api, issuer.key);
      expect(
        (
          await api.post(
            `/v1/certificates/${w.id}/status`,
            { status: 'withdrawn', reason: 'holder request', signatory: { name: '王五' } },
            issuer.key,
          )
        ).status,
      ).toBe(200);
      expect(codes(await verify({ number: w.number }))).toEqual(['WITHDRAWN']);
      ctx.clock.set('2026-11-24T10:00:00Z');
    });

    it('ISSUER_SUSPENDED at once for every certificate of the issuer, and lists every finding', async () => {
      const other = await createIssuer(ctx, { name: 'Suspended Body' });
      const c = await issueCertificate(api, other.key, { validUntil: '2025-01-01' });
      ctx.clock.set('2026-11-24T11:00:00Z');
      const res = await api.post(
        `/v1/issuers/${other.id}/status`,
        { status: 'suspended', reason: 'CNCA decision' },
        ctx.adminKey,
      );
      expect(res.status).toBe(200);
      const answer = await verify({ credential: c.credential, presenter: { uscc: USCC.other } });
      expect(answer.verdict).toBe('misused');
      expect(codes(answer)).toEqual(['EXPIRED', 'HOLDER_MISMATCH', 'ISSUER_SUSPENDED']);
      expect(codes(await verify({ credential: c.credential, at: '2024-06-01' }))).toEqual([]);
      // The register says so of each of its certificates: suspended, with the issuer's reason and
      // time; its own status and history are untouched.
      const current = await issueCertificate(api, other.key).catch((error: Error) => error);
      expect(String(current)).toMatch(/issuer_suspended|suspended/);
      for (const view of [
        (await api.get(`/v1/certificates/${c.id}`)).body,
        (await api.get(`/v1/registry/certificates?number=${c.number}`)).body.items[0],
        answer.certificate,
      ]) {
        expect(view).toMatchObject({
          status: 'suspended',
          statusReason: 'CNCA decision',
          statusChangedAt: '2026-11-24T11:00:00.000Z',
          issuer: { id: other.id, status: 'suspended' },
        });
      }
      const history = (await api.get(`/v1/certificates/${c.id}/status-history`)).body.items;
      expect(history).toEqual([]);
      const resumed = await api.post(
        `/v1/issuers/${other.id}/status`,
        { status: 'active', reason: 'decision lifted' },
        ctx.adminKey,
      );
      expect(resumed.status, resumed.text).toBe(200);
      expect((await api.get(`/v1/certificates/${c.id}`)).body).toMatchObject({
        status: 'expired',
        statusReason: null,
      });
      ctx.clock.set('2026-11-24T10:00:00Z');
    });

    it('a compromised key stops verifying (UNKNOWN_KEY) and leaves the JWKS; a rotated one still verifies', async () => {
      const body = await createIssuer(ctx, { name: 'Rotating Body' });
      const before = await issueCertificate(api, body.key);
      const rotated = await api.post(`/v1/issuers/${body.id}/keys/rotate`, undefined, body.key);
      expect(rotated.status).toBe(201);
      const after = await issueCertificate(api, body.key);
      expect((await verify({ credential: before.credential })).verdict).toBe('authentic');
      expect((await verify({ credential: after.credential })).verdict).toBe('authentic');

      const res = await api.post(
        `/v1/issuers/${body.id}/keys/${body.kid}/compromise`,
        undefined,
        ctx.adminKey,
      );
      expect(res.status).toBe(200);
      expect(codes(await verify({ credential: before.credential }))).toEqual(['UNKNOWN_KEY']);
      expect((await verify({ credential: after.credential })).verdict).toBe('authentic');
      const jwks = (await api.get('/.well-known/jwks.json')).body;
      const kids = jwks.keys.map((k: any) => k.kid);
      expect(kids).not.toContain(body.kid);
      expect(kids).toContain(rotated.body.kid);
      for (const k of jwks.keys) expect(Object.keys(k)).not.toContain('d');
    });

    it('a compromised key’s certificates are signed again with the current key: the registry’s copy, its page and the number verify', async () => {
      const body = await createIssuer(ctx, { name: 'Leaking Body' });
      const leaked = await issueCertificate(api, body.key);
      const revoked = await issueCertificate(api, body.key);
      await api.post(
        `/v1/certificates/${revoked.id}/status`,
        { status: 'revoked', reason: 'audit failed', signatory: { name: '李四' } },
        body.key,
      );
      const res = await api.post(
        `/v1/issuers/${body.id}/keys/${body.kid}/compromise`,
        undefined,
        ctx.adminKey,
      );
      expect(res.status).toBe(200);
      // The copy signed with the leaked key proves nothing any more…
      expect(codes(await verify({ credential: leaked.credential }))).toEqual(['UNKNOWN_KEY']);
      // …but the certificate is still valid, and the registry hands out a credential that says so.
      const current = (await api.get(`/v1/certificates/${leaked.id}`)).body;
      expect(current.credential).not.toBe(leaked.credential);
      const header = JSON.parse(
        Buffer.from(current.credential.split('.')[0], 'base64url').toString('utf8'),
      );
      expect(header.kid).not.toBe(body.kid);
      const jwks = (await api.get('/.well-known/jwks.json')).body;
      expect(jwks.keys.map((k: { kid: string }) => k.kid)).toContain(header.kid);
      expect(await verify({ credential: current.credential })).toMatchObject({
        verdict: 'authentic',
        certificate: { id: leaked.id },
      });
      const page = await api.get(`/c/${leaked.id}`, undefined, { accept: 'application/json' });
      expect(page.body.verdict).toBe('authentic');
      expect((await verify({ number: leaked.number, issuerId: body.id })).verdict).toBe(
        'authentic',
      );
      // Re-signing changes no status: a revoked certificate stays revoked under the new key.
      const again = (await api.get(`/v1/certificates/${revoked.id}`)).body;
      expect(codes(await verify({ credential: again.credential }))).toEqual(['REVOKED']);
      // The audit entry of the compromise says how many were re-signed.
      const audit = await api.get(
        `/v1/audit?action=key.compromise&subject=${body.id}`,
        await createRoleKey(ctx, 'supervisor'),
      );
      const entry = audit.body.items.find((e: { action: string }) => e.action === 'key.compromise');
      expect(entry.change).toMatchObject({ kid: body.kid, resignedCertificates: 2 });
    });
  });

  it('a compromise cut short before its credentials were signed again is finished at the next start, a page at a time', async () => {
    const body = await createIssuer(ctx, { name: 'Interrupted Body' });
    const issued = [];
    for (let i = 0; i < 5; i++) issued.push(await issueCertificate(api, body.key));
    // The key's change committed, then the service stopped: nothing signed again yet.
    await ctx.handle.db.execute(
      sql`UPDATE signing_keys SET status = 'compromised', compromised_at = now() WHERE kid = ${body.kid}`,
    );
    const rotated = await api.post(`/v1/issuers/${body.id}/keys/rotate`, undefined, body.key);
    expect(rotated.status).toBe(201);
    const before = (await api.get(`/v1/certificates/${issued[0].id}`)).body.credential;
    expect(codes(await verify({ credential: before }))).toEqual(['UNKNOWN_KEY']);
    // Meanwhile its page judges the registry's record, as its number does: genuine, not forged,
    // and no alert against it.
    const page = await api.get(`/c/${issued[1].id}`, undefined, { accept: 'application/json' });
    expect(page.body).toMatchObject({ verdict: 'authentic', certificate: { id: issued[1].id } });
    const supervisor = await createRoleKey(ctx, 'supervisor');
    const alerts = await api.get(`/v1/alerts?status=open`, supervisor);
    expect(JSON.stringify(alerts.body)).not.toContain(issued[1].id);

    expect(await ctx.services.certificates.resignCompromised(body.id, 2)).toBe(5);
    for (const certificate of issued) {
      const current = (await api.get(`/v1/certificates/${certificate.id}`)).body.credential;
      const header = JSON.parse(Buffer.from(current.split('.')[0], 'base64url').toString('utf8'));
      expect(header.kid).toBe(rotated.body.kid);
      expect((await verify({ credential: current })).verdict).toBe('authentic');
    }
    // Three pages of at most two, each audited; nothing is left for the startup pass.
    const audit = await api.get(
      `/v1/audit?action=certificate.credentials.resign&subject=${body.id}`,
      await createRoleKey(ctx, 'supervisor'),
    );
    expect(
      audit.body.items.map((e: { change: { resigned: number } }) => e.change.resigned),
    ).toEqual([1, 2, 2]);
    expect(await ctx.services.certificates.resignAllCompromised()).toBe(0);

    // A row another transaction holds is skipped, not waited for, and taken by a later sweep.
    const more = await issueCertificate(api, body.key);
    await ctx.handle.db.execute(
      sql`UPDATE signing_keys SET status = 'compromised', compromised_at = now() WHERE kid = ${rotated.body.kid}`,
    );
    expect((await api.post(`/v1/issuers/${body.id}/keys/rotate`, undefined, body.key)).status).toBe(
      201,
    );
    const holder = new pg.Client({ connectionString: ctx.databaseUrl });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM certificates WHERE id = $1 FOR SHARE', [more.id]);
      expect(await ctx.services.certificates.resignCompromised(body.id)).toBe(5);
      const sweeping = ctx.services.certificates.resignUntilDone(body.id);
      await new Promise((resolve) => setTimeout(resolve, 200));
      await holder.query('COMMIT');
      expect(await sweeping).toBe(1);
    } finally {
      await holder.end();
    }
    expect(await ctx.services.certificates.countToResign(ctx.handle.db, body.id)).toBe(0);
  });

  it('a stop ends a sweep between its pages and pauses, not after its last attempt', async () => {
    const body = await createIssuer(ctx, { name: 'Held Rows Body' });
    const certificate = await issueCertificate(api, body.key);
    await ctx.handle.db.execute(
      sql`UPDATE signing_keys SET status = 'compromised', compromised_at = now() WHERE kid = ${body.kid}`,
    );
    expect((await api.post(`/v1/issuers/${body.id}/keys/rotate`, undefined, body.key)).status).toBe(
      201,
    );
    // Its one row held elsewhere: each sweep skips it and pauses (0.5 s, then 1 s) before the next.
    const holder = new pg.Client({ connectionString: ctx.databaseUrl });
    await holder.connect();
    const sweeper = new CompromiseSweeper({ certificates: ctx.services.certificates });
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM certificates WHERE id = $1 FOR SHARE', [certificate.id]);
      sweeper.start();
      await new Promise((resolve) => setTimeout(resolve, 200));
      const began = performance.now();
      await sweeper.stop();
      expect(performance.now() - began).toBeLessThan(300);
    } finally {
      await holder.query('COMMIT');
      await holder.end();
    }
    expect(await ctx.services.certificates.resignCompromised(body.id)).toBe(1);
  });

  it('a certificate’s page read just before its credential was signed again judges the registry', async () => {
    const body = await createIssuer(ctx, { name: 'Racing Page Body' });
    const certificate = await issueCertificate(api, body.key);
    await ctx.handle.db.execute(
      sql`UPDATE signing_keys SET status = 'compromised', compromised_at = now() WHERE kid = ${body.kid}`,
    );
    expect((await api.post(`/v1/issuers/${body.id}/keys/rotate`, undefined, body.key)).status).toBe(
      201,
    );
    // The sweep's page commits between the page's read of the certificate and what follows it.
    const certificates = ctx.services.certificates;
    const read = certificates.getCertificate.bind(certificates);
    certificates.getCertificate = async (...args) => {
      const issued = await read(...args);
      await certificates.resignCompromised(body.id);
      return issued;
    };
    try {
      const page = await api.get(`/c/${certificate.id}`, undefined, { accept: 'application/json' });
      expect(page.body).toMatchObject({
        verdict: 'authentic',
        certificate: { id: certificate.id },
      });
    } finally {
      certificates.getCertificate = read;
    }
  });

  it('a compromise whose instance died before signing again is finished by a running one, at its next look', async () => {
    const sweeper = new CompromiseSweeper({
      certificates: ctx.services.certificates,
      intervalMs: 200,
    });
    sweeper.start(); // running before the compromise: its first look finds nothing
    try {
      const body = await createIssuer(ctx, { name: 'Orphaned Compromise Body' });
      const issued = [];
      for (let i = 0; i < 3; i++) issued.push(await issueCertificate(api, body.key));
      // Another instance committed the key's change, then died: nothing signed again, nobody asked.
      await ctx.handle.db.execute(
        sql`UPDATE signing_keys SET status = 'compromised', compromised_at = now() WHERE kid = ${body.kid}`,
      );
      const rotated = await api.post(`/v1/issuers/${body.id}/keys/rotate`, undefined, body.key);
      expect(rotated.status).toBe(201);
      let left = 3;
      for (let i = 0; i < 100 && left > 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        left = await ctx.services.certificates.countToResign(ctx.handle.db, body.id);
      }
      expect(left).toBe(0);
      for (const certificate of issued) {
        const current = (await api.get(`/v1/certificates/${certificate.id}`)).body.credential;
        expect((await verify({ credential: current })).verdict).toBe('authentic');
      }
    } finally {
      await sweeper.stop();
    }
  });

  describe('the registry is read on every check', () => {
    // A check remembers only what never changes in a certificate (its content); everything that
    // can change is read with the key, every time. Each step here follows a check of the same
    // credential in the same service, so anything remembered from it would show.
    it('sees a status change, a suspended issuer, a deduction, a compromised key and a re-signed credential at the next check', async () => {
      const body = await createIssuer(ctx, { name: 'Changing Body' });
      const c = await issueCertificate(api, body.key);
      const first = await verify({ credential: c.credential });
      expect(first).toMatchObject({ verdict: 'authentic', certificate: { id: c.id } });
      expect(first.certificate).toMatchObject({
        status: 'valid',
        statusReason: null,
        statusChangedAt: null,
        issuer: { id: body.id, status: 'active' },
      });

      const change = (status: string) =>
        api.post(
          `/v1/certificates/${c.id}/status`,
          { status, reason: `test ${status}`, signatory: { name: '李四' } },
          body.key,
        );
      expect((await change('suspended')).status).toBe(200);
      const suspended = await verify({ credential: c.credential });
      expect(codes(suspended)).toEqual(['SUSPENDED']);
      expect(suspended.certificate).toMatchObject({
        status: 'suspended',
        statusReason: 'test suspended',
        statusChangedAt: '2026-11-24T10:00:00.000Z',
      });
      expect((await change('valid')).status).toBe(200);
      expect(await verify({ credential: c.credential })).toMatchObject({
        verdict: 'authentic',
        certificate: { status: 'valid', statusReason: 'test valid' },
      });

      const issuerStatus = (status: string) =>
        api.post(`/v1/issuers/${body.id}/status`, { status, reason: 'CNCA' }, ctx.adminKey);
      expect((await issuerStatus('suspended')).status).toBe(200);
      const issuerSuspended = await verify({ credential: c.credential });
      expect(codes(issuerSuspended)).toEqual(['ISSUER_SUSPENDED']);
      expect(issuerSuspended.certificate.issuer.status).toBe('suspended');
      expect((await issuerStatus('active')).status).toBe(200);
      expect((await verify({ credential: c.credential })).verdict).toBe('authentic');

      expect(
        (
          await api.post(
            `/v1/issuers/${body.id}/keys/${body.kid}/compromise`,
            undefined,
            ctx.adminKey,
          )
        ).status,
      ).toBe(200);
      expect(codes(await verify({ credential: c.credential }))).toEqual(['UNKNOWN_KEY']);
      const resigned = (await api.get(`/v1/certificates/${c.id}`)).body.credential;
      expect(resigned).not.toBe(c.credential);
      const again = await verify({ credential: resigned });
      expect(again.verdict).toBe('authentic');
      // The same certificate, its content unchanged, its state as the registry now holds it.
      expect(again.certificate).toEqual({
        ...first.certificate,
        statusReason: 'test valid',
        statusChangedAt: '2026-11-24T10:00:00.000Z',
      });

      // An exemption's remaining quantity, as a customs deduction leaves it.
      const exemptionAuthority = await createIssuer(ctx, {
        name: 'Exempting Authority',
        kind: 'exemption_authority',
        schemes: ['CCC_EXEMPTION'],
      });
      const exemption = await issueCertificate(api, exemptionAuthority.key, {
        scheme: 'CCC_EXEMPTION',
        quantity: 500,
        purpose: 'rd_or_test_samples',
      });
      expect((await verify({ credential: exemption.credential })).certificate).toMatchObject({
        quantity: 500,
        remaining: 500,
      });
      await ctx.handle.db.execute(
        sql`UPDATE certificates SET remaining = 493 WHERE id = ${exemption.id}`,
      );
      expect((await verify({ credential: exemption.credential })).certificate).toMatchObject({
        quantity: 500,
        remaining: 493,
      });
    });

    it('checks that arrive together are each answered about their own credential', async () => {
      const body = await createIssuer(ctx, { name: 'Busy Body' });
      const genuine = await Promise.all(
        Array.from({ length: 12 }, () => issueCertificate(api, body.key)),
      );
      await api.post(
        `/v1/certificates/${genuine[5].id}/status`,
        { status: 'revoked', reason: 'audit failed', signatory: { name: '李四' } },
        body.key,
      );
      const signer = await ctx.services.vault.currentSigner(ctx.handle.db, body.id);
      const key = await importJWK(
        { ...ed25519Jwk(signer.publicKey), d: Buffer.from(signer.seed).toString('base64url') },
        'EdDSA',
      );
      const payload = JSON.parse(
        Buffer.from(genuine[0].credential.split('.')[1], 'base64url').toString(),
      );
      const signAs = (kid: string, content: unknown) =>
        new CompactSign(Buffer.from(JSON.stringify(content)))
          .setProtectedHeader({ alg: 'EdDSA', typ: 'vc+jwt', kid })
          .sign(key);
      const noSuchId = 'urn:uuid:00000000-0000-4000-8000-00000000beef';
      // A kid PostgreSQL could not even take as text (NUL), one that is no key id at all, and one
      // of the right shape that no key has: none may spoil the checks it shares a statement with.
      const oddKids = [
        'kid\u0000with-nul',
        'x'.repeat(128),
        jwkThumbprint(generateSigningKey().publicKey),
      ];
      const requests = [
        ...genuine.map((g) => ({ credential: g.credential })),
        { credential: await signAs(signer.kid, { ...payload, id: noSuchId, jti: noSuchId }) },
        ...(await Promise.all(oddKids.map((kid) => signAs(kid, payload)))).map((credential) => ({
          credential,
        })),
      ];
      const answers = await Promise.all(requests.map((r) => verify(r)));
      genuine.forEach((g, i) => {
        expect(answers[i]!.certificate, `answer ${i}`).toMatchObject({
          id: g.id,
          number: g.number,
        });
        expect(codes(answers[i]!), `answer ${i}`).toEqual(i === 5 ? ['REVOKED'] : []);
      });
      expect(codes(answers[12]!)).toEqual(['NOT_IN_REGISTRY']);
      for (const answer of answers.slice(13)) {
        expect(codes(answer)).toEqual(['UNKNOWN_KEY']);
        expect(answer.certificate).toBeUndefined();
      }
    });
  });

  it('asks for the issuer when a number is held by two issuers', async () => {
    const second = await createIssuer(ctx, { name: 'Second Body' });
    await issueCertificate(api, second.key, { number: cert.number });
    const res = await api.post('/v1/verify/certificate', { number: cert.number });
    expect(res.status).toBe(422);
    expect(res.body.code).toBe('ambiguous_number');
    expect((await verify({ number: cert.number, issuerId: issuer.id })).certificate.id).toBe(
      cert.id,
    );
  });

  /**
   * `at` is judged by its day in China Standard Time. The last eight hours of 9999-12-31 UTC are
   * 10000-01-01 there: such an instant must not be answered as if it came before the certificate's
   * validity (NOT_YET_VALID); it is refused like any other instant past 9999-12-31.
   */
  describe('`at` at the end of the date range', () => {
    let dated: any;
    beforeAll(async () => {
      dated = await issueCertificate(api, issuer.key);
    });

    /** The reason codes of the answer for `at`, which must be a 200. */
    const codesAt = async (at: string) => {
      const res = await api.post('/v1/verify/certificate', { number: dated.number, at });
      expect(res.status, `${at}: ${res.text}`).toBe(200);
      return res.body.reasons.map((r: { code: string }) => r.code);
    };

    it('answers EXPIRED for the last instants of the range, never NOT_YET_VALID', async () => {
      for (const at of ['9999-12-31', '9999-12-31T15:59:59.999Z', '9999-12-31T23:59:59.999+08:00'])
        expect(await codesAt(at), at).toEqual(['EXPIRED']);
    });

    it('takes every instant of 1900-01-01 in China, as it takes the bare day', async () => {
      for (const at of ['1900-01-01', '1900-01-01T00:00:00+08:00'])
        expect(await codesAt(at), at).toEqual(['NOT_YET_VALID']);
    });

    it('refuses an instant that is already 10000-01-01 in China', async () => {
      for (const at of ['9999-12-31T16:00:00Z', '9999-12-31T23:59:59.999Z']) {
        const res = await api.post('/v1/verify/certificate', { number: dated.number, at });
        expect(res.status, `${at}: ${res.text}`).toBe(400);
        expect(res.body.code).toBe('validation_failed');
        expect(res.body.errors[0].path).toBe('at');
      }
    });
  });
});
