import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, createTestContext, type Client, type TestContext } from '../helpers';
import { createIssuer, issueCertificate, type IssuerFixture } from '../fixtures';

/** Answers that carry a secret or a mark code are never cached (Cache-Control: no-store). */
describe('Cache-Control on secrets and mark codes', () => {
  let ctx: TestContext;
  let api: Client;
  let issuer: IssuerFixture;
  let batchId: string;
  let serial: string;
  let code: string;

  beforeAll(async () => {
    ctx = await createTestContext();
    api = client(ctx.app);
    issuer = await createIssuer(ctx);
    const certificate = await issueCertificate(api, issuer.key);
    const batch = await api.post(
      `/v1/certificates/${certificate.id}/marks`,
      { count: 2 },
      issuer.key,
    );
    batchId = batch.body.batchId;
    const first = JSON.parse(
      (await api.get(`/v1/mark-batches/${batchId}/marks`, issuer.key)).text.split('\n')[0]!,
    );
    serial = first.serial;
    code = first.code;
  });
  afterAll(async () => ctx?.close());

  it('on a new API key, exports, label sheets, QR codes, mark pages and verifications', async () => {
    const answers = {
      'new API key': await api.post('/v1/api-keys', { role: 'customs' }, ctx.adminKey),
      export: await api.get(`/v1/mark-batches/${batchId}/marks`, issuer.key),
      'CSV export': await api.get(`/v1/mark-batches/${batchId}/marks`, issuer.key, {
        accept: 'text/csv',
      }),
      'label sheet': await api.get(`/v1/mark-batches/${batchId}/labels.svg`, issuer.key),
      'label PDF': await api.get(`/v1/mark-batches/${batchId}/labels.pdf`, issuer.key),
      'QR (SVG)': await api.get(`/v1/marks/${serial}/qr.svg`, issuer.key),
      'QR (PNG)': await api.get(`/v1/marks/${serial}/qr.png`, issuer.key),
      'mark page': await api.get(`/m/${code}`),
      'mark page as JSON': await api.get(`/m/${code}`, undefined, { accept: 'application/json' }),
      'mark verification': await api.post('/v1/verify/mark', { code }),
      'credential verification': await api.post('/v1/verify/certificate', { number: 'NOPE-1' }),
    };
    for (const [name, res] of Object.entries(answers)) {
      expect(res.status, name).toBeLessThan(300);
      expect(res.headers.get('cache-control'), name).toBe('no-store');
    }
  });

  it('on problems, whose instance never repeats a full mark code', async () => {
    const res = await api.get(`/m/${code}%00`);
    expect(res.status).toBe(400);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.text).not.toContain(code);
    expect(res.body.instance).toBe(`/m/${code.slice(0, 8)}…\u0000`);
  });

  it('leaves an answer that chooses to be cached as it is', async () => {
    const certificate = await issueCertificate(api, issuer.key);
    const qr = await api.get(`/v1/certificates/${certificate.id}/qr.svg`);
    expect(qr.headers.get('cache-control')).toBe('public, max-age=3600');
  });
});
