import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, createTestContext, type TestContext } from '../helpers';
import { createIssuer, issueCertificate } from '../fixtures';

describe('smoke', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext();
  });
  afterAll(async () => ctx.close());

  it('issues a certificate and verifies its credential', async () => {
    const api = client(ctx.app);
    const issuer = await createIssuer(ctx);
    const cert = await issueCertificate(api, issuer.key);
    expect(cert.status).toBe('valid');
    const res = await api.post('/v1/verify/certificate', { credential: cert.credential });
    expect(res.status).toBe(200);
    expect(res.body.verdict).toBe('authentic');
    expect(res.body.reasons).toEqual([]);
  });
});
