import { contexts as w3cContexts } from '@digitalbazaar/credentials-context';
import jsonld from 'jsonld';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contextUrl, VC_V2_CONTEXT, vocabularyUrl } from '../../src/credentials/context';
import { client, createTestContext, type Client, type TestContext } from '../helpers';
import { createIssuer, issueCertificate, type IssuerFixture } from '../fixtures';

/**
 * Every kind of credential certmark signs expands with the `jsonld` processor in safe mode (which
 * fails on a term no context defines, instead of dropping it) with the W3C contexts vendored (the
 * `@digitalbazaar/credentials-context` package) and a document loader that never goes to the
 * network: certmark's own context comes from the running service.
 */
describe('JSON-LD: every credential expands with its contexts, nothing dropped', () => {
  let ctx: TestContext;
  let api: Client;
  let issuer: IssuerFixture;
  let authority: IssuerFixture;
  const documents = new Map<string, unknown>();
  const loaded: string[] = [];

  const documentLoader = async (url: string) => {
    loaded.push(url);
    const document = documents.get(url);
    if (document === undefined) throw new Error(`the loader never goes to the network: ${url}`);
    return { document: document as object, documentUrl: url };
  };
  // `safe` is jsonld.js's option (not in @types/jsonld): fail on any term that would be dropped.
  const expand = (credential: object) =>
    jsonld.expand(
      structuredClone(credential) as jsonld.JsonLdDocument,
      {
        documentLoader,
        safe: true,
      } as jsonld.Options.Expand & { safe: boolean },
    );

  beforeAll(async () => {
    ctx = await createTestContext();
    api = client(ctx.app);
    issuer = await createIssuer(ctx);
    authority = await createIssuer(ctx, {
      name: 'Fuzhou Administration for Market Regulation',
      kind: 'exemption_authority',
      schemes: ['CCC_EXEMPTION'],
    });
    documents.set(VC_V2_CONTEXT, w3cContexts.get(VC_V2_CONTEXT));
    const served = await api.get(new URL(contextUrl(ctx.config.publicBaseUrl)).pathname);
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toMatch(/^application\/ld\+json/);
    documents.set(contextUrl(ctx.config.publicBaseUrl), served.body);
  });
  afterAll(async () => ctx.close());

  it('serves a versioned, protected context listed after the VC 2.0 context', async () => {
    const context = documents.get(contextUrl(ctx.config.publicBaseUrl)) as {
      '@context': Record<string, unknown>;
    };
    expect(contextUrl(ctx.config.publicBaseUrl)).toBe('https://certmark.test/ns/certmark/v1');
    expect(context['@context']['@protected']).toBe(true);
    const cert = await issueCertificate(api, issuer.key);
    expect(decodeJwt(cert.credential)['@context']).toEqual([
      VC_V2_CONTEXT,
      contextUrl(ctx.config.publicBaseUrl),
    ]);
  });

  it('a certificate credential, and an exemption’s (quantity, purpose)', async () => {
    const vocabulary = vocabularyUrl(ctx.config.publicBaseUrl);
    const certificate = await issueCertificate(api, issuer.key);
    const exemption = await issueCertificate(api, authority.key, {
      scheme: 'CCC_EXEMPTION',
      quantity: 500,
      purpose: 'rd_or_test_samples',
    });
    for (const issued of [certificate, exemption]) {
      const credential = decodeJwt(issued.credential);
      const expanded = await expand(credential);
      const text = JSON.stringify(expanded);
      for (const term of ['certificate', 'certificateNumber', 'holder', 'uscc', 'scope', 'model'])
        expect(text).toContain(`${vocabulary}${term}`);
      expect(text).toContain('https://www.iana.org/assignments/jwt#jti');
      expect(text).toContain('https://www.w3.org/2018/credentials#validUntil');
      // The certificate's own days are dates, not the credential's instants.
      expect(text).toContain('http://www.w3.org/2001/XMLSchema#date"');
    }
    expect(JSON.stringify(await expand(decodeJwt(exemption.credential)))).toContain(
      `${vocabulary}quantity`,
    );
    expect(loaded.every((url) => documents.has(url))).toBe(true);
  });

  it('a status list credential (certificates’ and a mark batch’s)', async () => {
    const certificate = await issueCertificate(api, issuer.key);
    const { credentialStatus } = decodeJwt(certificate.credential) as {
      credentialStatus: { statusListCredential: string }[];
    };
    const batch = await api.post(
      `/v1/certificates/${certificate.id}/marks`,
      { count: 2 },
      issuer.key,
    );
    expect(batch.status).toBe(201);
    for (const url of [
      ...credentialStatus.map((e) => e.statusListCredential),
      batch.body.links.statusList as string,
    ]) {
      const list = decodeJwt((await api.get(new URL(url).pathname)).text);
      const text = JSON.stringify(await expand(list));
      expect(text).toContain('https://www.w3.org/ns/credentials/status#BitstringStatusList"');
      expect(text).toContain('https://www.w3.org/ns/credentials/status#encodedList');
      expect(text).toContain('https://www.w3.org/ns/credentials/status#ttl');
    }
  });

  it('fails in safe mode on a term no context defines (the check can fail)', async () => {
    const credential = decodeJwt((await issueCertificate(api, issuer.key)).credential) as Record<
      string,
      any
    >;
    credential.credentialSubject.certificate.colour = 'red';
    await expect(expand(credential)).rejects.toThrow(/safe mode|dropped|undefined|relative/i);
    await expect(
      expand({ ...credential, '@context': [VC_V2_CONTEXT, 'https://elsewhere.example/ctx'] }),
    ).rejects.toThrow();
  });
});
