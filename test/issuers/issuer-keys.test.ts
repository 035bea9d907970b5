import { createLocalJWKSet, createRemoteJWKSet, decodeJwt, errors, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyVault } from '../../src/issuers/key-vault';
import { platformJwk } from '../../src/keystore/platform-key';
import {
  client,
  createTestContext,
  listen,
  type Client,
  type Listening,
  type TestContext,
} from '../helpers';
import { createIssuer, issueCertificate, type IssuerFixture } from '../fixtures';

/**
 * Keys as a verifier that is not certmark finds them: jose's `createRemoteJWKSet` reading an
 * issuer's JWKS over HTTP from the running service, and the issuer's JWT VC Issuer Metadata found
 * from a credential's `iss` by the SD-JWT VC rule (well-known segment between host and path).
 */
describe('issuer keys and JWT VC issuer metadata', () => {
  let ctx: TestContext;
  let api: Client;
  let server: Listening;
  let a: IssuerFixture;
  let b: IssuerFixture;

  beforeAll(async () => {
    ctx = await createTestContext();
    api = client(ctx.app);
    server = await listen(ctx.app);
    a = await createIssuer(ctx);
    b = await createIssuer(ctx, { name: 'Other Certification Body' });
  });
  afterAll(async () => {
    await server.close();
    await ctx.close();
  });

  /** SD-JWT VC "JWT VC Issuer Metadata", written out here rather than taken from the service. */
  const metadataPathOf = (iss: string) => {
    const url = new URL(iss);
    return `/.well-known/jwt-vc-issuer${url.pathname.replace(/\/$/, '')}`;
  };

  it('opens the database’s signing keys with its KEK, and says so when KEYS_DIR holds another', async () => {
    await expect(ctx.services.vault.assertOpens(ctx.handle.db)).resolves.toBeUndefined();
    const stranger = new KeyVault(new Uint8Array(32).fill(7));
    await expect(stranger.assertOpens(ctx.handle.db)).rejects.toMatchObject({
      name: 'KeyCustodyError',
      message: expect.stringContaining('KEYS_DIR'),
    });
  });

  it('the global JWKS says which key is the transparency log’s, and every other key is an issuer’s', async () => {
    const res = await api.get('/.well-known/jwks.json');
    expect(res.status).toBe(200);
    const logKeys = res.body.keys.filter((k: any) => k.purpose === 'transparency-log');
    expect(logKeys).toHaveLength(1);
    expect(logKeys[0]).toMatchObject({
      kid: platformJwk(ctx.keys.platformSeed).kid,
      issuer: 'certmark',
    });
    const issuerKeys = res.body.keys.filter((k: any) => k.purpose === 'issuer');
    expect(issuerKeys.map((k: any) => k.kid).sort()).toEqual([a.kid, b.kid].sort());
    expect(res.body.keys).toHaveLength(3);
  });

  it('an issuer’s JWKS holds its current and retired keys only, and jose verifies its credential from it over HTTP', async () => {
    const cert = await issueCertificate(api, a.key);
    const rotated = await api.post(`/v1/issuers/${a.id}/keys/rotate`, {}, ctx.adminKey);
    expect(rotated.status).toBe(201);
    const res = await api.get(`/v1/issuers/${a.id}/jwks.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.body.keys.map((k: any) => [k.kid, k.status, k.issuer])).toEqual([
      [a.kid, 'retired', a.id],
      [rotated.body.kid, 'current', a.id],
    ]);

    const remote = createRemoteJWKSet(new URL(`${server.url}/v1/issuers/${a.id}/jwks.json`));
    const { payload } = await jwtVerify(cert.credential, remote, { typ: 'vc+jwt' });
    expect(payload.iss).toBe(`https://certmark.test/v1/issuers/${a.id}`);

    // Another issuer's JWKS knows nothing of A's key: the credential does not verify against it.
    const other = createRemoteJWKSet(new URL(`${server.url}/v1/issuers/${b.id}/jwks.json`));
    await expect(jwtVerify(cert.credential, other)).rejects.toBeInstanceOf(
      errors.JWKSNoMatchingKey,
    );
  });

  it('a compromised key leaves the issuer’s JWKS', async () => {
    const c = await createIssuer(ctx, { name: 'Third Certification Body' });
    await api.post(`/v1/issuers/${c.id}/keys/rotate`, {}, ctx.adminKey);
    const res = await api.post(`/v1/issuers/${c.id}/keys/${c.kid}/compromise`, {}, ctx.adminKey);
    expect(res.status).toBe(200);
    const jwks = await api.get(`/v1/issuers/${c.id}/jwks.json`);
    expect(jwks.body.keys.map((k: any) => k.kid)).not.toContain(c.kid);
    expect(jwks.body.keys.map((k: any) => k.status)).toEqual(['current']);
  });

  it('the metadata is found from a credential’s iss, names that iss, and its keys verify the credential and its status list', async () => {
    const cert = await issueCertificate(api, b.key);
    const claims = decodeJwt(cert.credential) as {
      iss: string;
      credentialStatus: { statusListCredential: string }[];
    };
    const res = await fetch(`${server.url}${metadataPathOf(claims.iss)}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const metadata = (await res.json()) as { issuer: string; jwks: { keys: unknown[] } };
    // "The issuer value returned MUST be identical to the iss value of the JWT."
    expect(metadata.issuer).toBe(claims.iss);
    expect(Object.keys(metadata).sort()).toEqual(['issuer', 'jwks']);
    const keys = createLocalJWKSet(metadata.jwks as Parameters<typeof createLocalJWKSet>[0]);
    await jwtVerify(cert.credential, keys, { typ: 'vc+jwt', issuer: claims.iss });
    const list = await api.get(new URL(claims.credentialStatus[0]!.statusListCredential).pathname);
    await jwtVerify(list.text, keys, {
      typ: 'vc+jwt',
      issuer: claims.iss,
      currentDate: ctx.clock.now(),
    });
  });

  it('an unknown issuer’s keys and metadata are a 404 problem; a malformed id a 400', async () => {
    const unknown = '00000000-0000-4000-8000-000000000000';
    for (const path of [
      `/v1/issuers/${unknown}/jwks.json`,
      `/.well-known/jwt-vc-issuer/v1/issuers/${unknown}`,
    ]) {
      const res = await api.get(path);
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/problem\+json/);
      expect(res.body.code).toBe('not_found');
    }
    const bad = await api.get('/v1/issuers/not-a-uuid/jwks.json');
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBeTypeOf('string');
  });
});
