import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, createTestContext, type Client, type TestContext } from '../helpers';
import { createIssuer, issueCertificate, type IssuerFixture } from '../fixtures';

/**
 * `at` is judged by its day in China Standard Time. The last eight hours of 9999-12-31 UTC are
 * 10000-01-01 there: such an instant must not be answered as if it came before the certificate's
 * validity (NOT_YET_VALID); it is refused like any other instant past 9999-12-31.
 */
describe('POST /v1/verify/certificate `at` at the end of the date range', () => {
  let ctx: TestContext;
  let api: Client;
  let issuer: IssuerFixture;
  let cert: any;

  beforeAll(async () => {
    ctx = await createTestContext();
    api = client(ctx.app);
    issuer = await createIssuer(ctx);
    cert = await issueCertificate(api, issuer.key);
  });
  afterAll(async () => ctx.close());

  it('answers EXPIRED for the last instants of the range, never NOT_YET_VALID', async () => {
    for (const at of ['9999-12-31', '9999-12-31T15:59:59.999Z', '9999-12-31T23:59:59.999+08:00']) {
      const res = await api.post('/v1/verify/certificate', { number: cert.number, at });
      expect(res.status, `${at}: ${res.text}`).toBe(200);
      expect(
        res.body.reasons.map((r: { code: string }) => r.code),
        at,
      ).toEqual(['EXPIRED']);
    }
  });

  it('takes every instant of 1900-01-01 in China, as it takes the bare day', async () => {
    for (const at of ['1900-01-01', '1900-01-01T00:00:00+08:00']) {
      const res = await api.post('/v1/verify/certificate', { number: cert.number, at });
      expect(res.status, `${at}: ${res.text}`).toBe(200);
      expect(
        res.body.reasons.map((r: { code: string }) => r.code),
        at,
      ).toEqual(['NOT_YET_VALID']);
    }
  });

  it('refuses an instant that is already 10000-01-01 in China', async () => {
    for (const at of ['9999-12-31T16:00:00Z', '9999-12-31T23:59:59.999Z']) {
      const res = await api.post('/v1/verify/certificate', { number: cert.number, at });
      expect(res.status, `${at}: ${res.text}`).toBe(400);
      expect(res.body.code).toBe('validation_failed');
      expect(res.body.errors[0].path).toBe('at');
    }
  });
});
