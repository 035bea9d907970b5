import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, createTestContext, type Client, type TestContext } from '../helpers';
import {
  createIssuer,
  createRoleKey,
  issueCertificate,
  certificateBody,
  type IssuerFixture,
} from '../fixtures';

/**
 * Every endpoint × every kind of caller, from one table. A caller that may not do something gets
 * 401 (no key) or 403/404 (wrong key), never 2xx; a caller that may gets past authorization.
 */
type Caller =
  | 'anonymous'
  | 'issuerA'
  | 'issuerB'
  | 'customs'
  | 'supervisor'
  | 'subscriber'
  | 'admin'
  | 'revoked';
const callers: Caller[] = [
  'anonymous',
  'issuerA',
  'issuerB',
  'customs',
  'supervisor',
  'subscriber',
  'admin',
  'revoked',
];
const everyone: Caller[] = [
  'anonymous',
  'issuerA',
  'issuerB',
  'customs',
  'supervisor',
  'subscriber',
  'admin',
];
/** Every role that may hold webhook subscriptions. */
const subscribers: Caller[] = ['issuerA', 'issuerB', 'customs', 'supervisor', 'subscriber'];

interface Row {
  name: string;
  method: 'GET' | 'POST' | 'DELETE';
  /** Builds a fresh request (mutations need a fresh subject per caller). */
  request: (caller: Caller) => Promise<{ path: string; body?: unknown }>;
  allowed: Caller[];
  /** An HTML page: its refusals are pages too, not problem+json. */
  page?: boolean;
}

describe('authorization matrix', () => {
  let ctx: TestContext;
  let api: Client;
  let a: IssuerFixture;
  let b: IssuerFixture;
  const keys = {} as Record<Caller, string | undefined>;
  let certA: any;
  let exemptionA: any;
  let batchA: string;
  let markCodes: { serial: string; code: string; url: string }[];
  let nextMark = 0;
  let declarations = 0;

  beforeAll(async () => {
    ctx = await createTestContext();
    api = client(ctx.app);
    a = await createIssuer(ctx, { name: 'Issuer A', schemes: ['CCC', 'CCC_EXEMPTION'] });
    b = await createIssuer(ctx, { name: 'Issuer B' });
    certA = await issueCertificate(api, a.key);
    exemptionA = await issueCertificate(api, a.key, {
      scheme: 'CCC_EXEMPTION',
      quantity: 1_000_000,
      purpose: 'display_only',
    });
    const batch = await api.post(`/v1/certificates/${certA.id}/marks`, { count: 40 }, a.key);
    batchA = batch.body.batchId;
    const exported = await api.get(`/v1/mark-batches/${batchA}/marks`, a.key);
    markCodes = exported.text
      .trim()
      .split('\n')
      .map((line: string) => JSON.parse(line));
    const revoked = await api.post('/v1/api-keys', { role: 'supervisor' }, ctx.adminKey);
    await api.delete(`/v1/api-keys/${revoked.body.id}`, ctx.adminKey);
    Object.assign(keys, {
      anonymous: undefined,
      issuerA: a.key,
      issuerB: b.key,
      customs: await createRoleKey(ctx, 'customs'),
      supervisor: await createRoleKey(ctx, 'supervisor'),
      subscriber: await createRoleKey(ctx, 'subscriber'),
      admin: ctx.adminKey,
      revoked: revoked.body.key,
    });
  });
  afterAll(async () => ctx.close());

  const freshCertA = async () => (await issueCertificate(api, a.key)).id as string;
  const subscriptionOfA = async () => {
    const res = await api.post(
      '/v1/subscriptions',
      { url: 'http://127.0.0.1:9/hook', events: ['certificate.status_changed'] },
      a.key,
    );
    return res.body.id as string;
  };

  const rows: Row[] = [
    {
      name: 'create issuer',
      method: 'POST',
      request: async () => ({
        path: '/v1/issuers',
        body: { name: 'X', kind: 'certification_body', schemes: ['CCC'] },
      }),
      allowed: ['admin'],
    },
    {
      name: 'list issuers',
      method: 'GET',
      request: async () => ({ path: '/v1/issuers' }),
      allowed: everyone,
    },
    {
      name: 'get issuer',
      method: 'GET',
      request: async () => ({ path: `/v1/issuers/${a.id}` }),
      allowed: everyone,
    },
    {
      name: 'set issuer status',
      method: 'POST',
      request: async () => ({ path: `/v1/issuers/${b.id}/status`, body: { status: 'active' } }),
      allowed: ['admin', 'supervisor'],
    },
    {
      name: 'rotate own key',
      method: 'POST',
      request: async () => ({ path: `/v1/issuers/${a.id}/keys/rotate` }),
      allowed: ['admin', 'issuerA'],
    },
    {
      name: 'compromise key',
      method: 'POST',
      request: async () => {
        const rotated = await api.post(`/v1/issuers/${b.id}/keys/rotate`, undefined, ctx.adminKey);
        return { path: `/v1/issuers/${b.id}/keys/${rotated.body.kid}/compromise` };
      },
      allowed: ['admin'],
    },
    {
      name: 'create API key',
      method: 'POST',
      request: async () => ({ path: '/v1/api-keys', body: { role: 'customs' } }),
      allowed: ['admin'],
    },
    {
      name: 'list API keys',
      method: 'GET',
      request: async () => ({ path: '/v1/api-keys' }),
      allowed: ['admin'],
    },
    {
      name: 'revoke API key',
      method: 'DELETE',
      request: async () => ({
        path: `/v1/api-keys/${(await api.post('/v1/api-keys', { role: 'customs' }, ctx.adminKey)).body.id}`,
      }),
      allowed: ['admin'],
    },
    {
      name: 'issue certificate',
      method: 'POST',
      request: async () => ({ path: '/v1/certificates', body: certificateBody() }),
      allowed: ['issuerA', 'issuerB'],
    },
    {
      name: 'get certificate',
      method: 'GET',
      request: async () => ({ path: `/v1/certificates/${certA.id}` }),
      allowed: everyone,
    },
    {
      name: 'status history',
      method: 'GET',
      request: async () => ({ path: `/v1/certificates/${certA.id}/status-history` }),
      allowed: everyone,
    },
    {
      name: 'certificate QR svg',
      method: 'GET',
      request: async () => ({ path: `/v1/certificates/${certA.id}/qr.svg` }),
      allowed: everyone,
    },
    {
      name: 'certificate QR png',
      method: 'GET',
      request: async () => ({ path: `/v1/certificates/${certA.id}/qr.png` }),
      allowed: everyone,
    },
    {
      name: 'change certificate status (owning issuer only)',
      method: 'POST',
      request: async () => ({
        path: `/v1/certificates/${await freshCertA()}/status`,
        body: { status: 'suspended', reason: 'audit', signatory: { name: '张三' } },
      }),
      allowed: ['issuerA'],
    },
    {
      name: 'registry search',
      method: 'GET',
      request: async () => ({ path: '/v1/registry/certificates?scheme=CCC' }),
      allowed: everyone,
    },
    {
      name: 'verify certificate',
      method: 'POST',
      request: async () => ({ path: '/v1/verify/certificate', body: { number: certA.number } }),
      allowed: everyone,
    },
    {
      name: 'JWKS',
      method: 'GET',
      request: async () => ({ path: '/.well-known/jwks.json' }),
      allowed: everyone,
    },
    {
      name: 'issuer JWKS',
      method: 'GET',
      request: async () => ({ path: `/v1/issuers/${a.id}/jwks.json` }),
      allowed: everyone,
    },
    {
      name: 'JWT VC issuer metadata',
      method: 'GET',
      request: async () => ({ path: `/.well-known/jwt-vc-issuer/v1/issuers/${a.id}` }),
      allowed: everyone,
    },
    {
      name: 'status list',
      method: 'GET',
      request: async () => ({
        path: new URL(
          (
            JSON.parse(Buffer.from(certA.credential.split('.')[1], 'base64url').toString()) as {
              credentialStatus: { statusListCredential: string }[];
            }
          ).credentialStatus[0]!.statusListCredential,
        ).pathname,
      }),
      allowed: everyone,
    },
    {
      name: 'offline bundle',
      method: 'GET',
      request: async () => ({ path: `/v1/offline-bundle?issuer=${a.id}` }),
      allowed: everyone,
    },
    {
      name: 'JSON-LD context',
      method: 'GET',
      request: async () => ({ path: '/ns/certmark/v1' }),
      allowed: everyone,
    },
    {
      name: 'OpenAPI',
      method: 'GET',
      request: async () => ({ path: '/openapi.json' }),
      allowed: everyone,
    },

    // Marks
    {
      name: 'issue marks (owning issuer)',
      method: 'POST',
      request: async () => ({ path: `/v1/certificates/${certA.id}/marks`, body: { count: 1 } }),
      allowed: ['issuerA'],
    },
    {
      name: 'mark batch progress',
      method: 'GET',
      request: async () => ({ path: `/v1/mark-batches/${batchA}` }),
      allowed: ['issuerA'],
    },
    {
      name: 'mark batch export',
      method: 'GET',
      request: async () => ({ path: `/v1/mark-batches/${batchA}/marks` }),
      allowed: ['issuerA'],
    },
    {
      name: 'mark label sheet',
      method: 'GET',
      request: async () => ({ path: `/v1/mark-batches/${batchA}/labels.svg` }),
      allowed: ['issuerA'],
    },
    {
      name: 'mark label PDF',
      method: 'GET',
      request: async () => ({ path: `/v1/mark-batches/${batchA}/labels.pdf?from=1&to=1` }),
      allowed: ['issuerA'],
    },
    {
      name: 'mark QR svg',
      method: 'GET',
      request: async () => ({ path: `/v1/marks/${markCodes[0]!.serial}/qr.svg` }),
      allowed: ['issuerA'],
    },
    {
      name: 'mark QR png',
      method: 'GET',
      request: async () => ({ path: `/v1/marks/${markCodes[0]!.serial}/qr.png` }),
      allowed: ['issuerA'],
    },
    {
      name: 'mark scan log',
      method: 'GET',
      request: async () => ({ path: `/v1/marks/${markCodes[0]!.serial}/scans` }),
      allowed: ['issuerA', 'supervisor'],
    },
    {
      name: 'void a mark',
      method: 'POST',
      request: async () => ({
        path: `/v1/marks/${markCodes[1 + nextMark++]!.serial}/void`,
        body: { reason: 'destroyed' },
      }),
      allowed: ['issuerA'],
    },
    {
      name: 'verify a mark',
      method: 'POST',
      request: async () => ({ path: '/v1/verify/mark', body: { code: markCodes[0]!.url } }),
      allowed: everyone,
    },
    {
      name: 'scan page',
      method: 'GET',
      request: async () => ({ path: `/m/${markCodes[0]!.code}` }),
      allowed: everyone,
    },
    {
      name: 'offline verification page',
      method: 'GET',
      request: async () => ({ path: '/verify/offline' }),
      allowed: everyone,
    },
    {
      name: 'certificate page',
      method: 'GET',
      request: async () => ({ path: `/c/${certA.id}` }),
      allowed: everyone,
    },

    // Customs
    {
      name: 'consume an exemption',
      method: 'POST',
      request: async () => ({
        path: '/v1/customs/exemptions/consume',
        body: {
          number: exemptionA.number,
          declarationNo: `53162026${String(++declarations).padStart(10, '0')}`,
          quantity: 1,
          importerUscc: exemptionA.holder.uscc,
        },
      }),
      allowed: ['customs'],
    },
    {
      name: 'exemption ledger',
      method: 'GET',
      request: async () => ({ path: `/v1/customs/exemptions/${exemptionA.id}/consumptions` }),
      allowed: ['customs', 'supervisor', 'issuerA'],
    },
    {
      name: 'customs refusals',
      method: 'GET',
      request: async () => ({ path: '/v1/customs/refusals' }),
      allowed: ['customs', 'supervisor'],
    },

    // Supervision
    {
      name: 'report a product',
      method: 'POST',
      request: async () => ({
        path: '/v1/reports',
        body: { certificateNumber: certA.number, description: 'looks fake' },
      }),
      allowed: everyone,
    },
    {
      name: 'list alerts',
      method: 'GET',
      request: async () => ({ path: '/v1/alerts' }),
      allowed: ['supervisor'],
    },
    {
      name: 'resolve an alert',
      method: 'POST',
      request: async () => {
        const report = await api.post('/v1/reports', {
          certificateNumber: `NOPE-${++declarations}`,
          description: 'x',
        });
        return { path: `/v1/alerts/${report.body.alertId}/resolve`, body: { note: 'checked' } };
      },
      allowed: ['supervisor'],
    },
    {
      name: 'audit log',
      method: 'GET',
      request: async () => ({ path: '/v1/audit' }),
      allowed: ['supervisor'],
    },
    {
      name: 'transparency checkpoint',
      method: 'GET',
      request: async () => ({ path: '/v1/transparency/checkpoint' }),
      allowed: everyone,
    },
    {
      name: 'transparency entries',
      method: 'GET',
      request: async () => ({ path: '/v1/transparency/entries?start=0&end=2' }),
      allowed: everyone,
    },
    {
      name: 'inclusion proof',
      method: 'GET',
      request: async () => ({ path: '/v1/transparency/proof/inclusion?index=0&size=2' }),
      allowed: everyone,
    },
    {
      name: 'consistency proof',
      method: 'GET',
      request: async () => ({ path: '/v1/transparency/proof/consistency?from=1&to=2' }),
      allowed: everyone,
    },
    {
      name: 'inspection draw',
      method: 'POST',
      request: async () => ({
        path: '/v1/inspections/draws',
        body: { certificateCount: 1, inspectors: ['王检查', '李检查'], inspectorCount: 1 },
      }),
      allowed: ['supervisor'],
    },
    {
      name: 'published draws',
      method: 'GET',
      request: async () => ({ path: '/v1/inspections/draws' }),
      allowed: everyone,
    },
    {
      name: 'create subscription',
      method: 'POST',
      // Each role asks for what it may follow: the matrix tests the role gate, not the event list.
      request: async (caller) => ({
        path: '/v1/subscriptions',
        body: {
          url: 'http://127.0.0.1:9/hook',
          events: [caller === 'customs' ? 'exemption.consumed' : 'certificate.status_changed'],
          ...(caller === 'subscriber' ? { filter: { certificates: [certA.id] } } : {}),
        },
      }),
      allowed: subscribers,
    },
    {
      name: 'list subscriptions',
      method: 'GET',
      request: async () => ({ path: '/v1/subscriptions' }),
      allowed: subscribers,
    },
    {
      name: 'delete subscription',
      method: 'DELETE',
      request: async () => ({ path: `/v1/subscriptions/${await subscriptionOfA()}` }),
      allowed: ['issuerA'],
    },
    {
      name: 'subscription deliveries',
      method: 'GET',
      request: async () => ({ path: `/v1/subscriptions/${await subscriptionOfA()}/deliveries` }),
      allowed: ['issuerA'],
    },
    {
      name: 'supervisor page',
      method: 'GET',
      request: async () => ({ path: '/supervisor' }),
      allowed: ['supervisor'],
      page: true,
    },
  ];

  for (const row of rows) {
    describe(row.name, () => {
      for (const caller of callers) {
        // A revoked key counts like no key (SPEC): let in where anyone is, 401 where a key is needed.
        const allowed =
          row.allowed.includes(caller) ||
          (caller === 'revoked' && row.allowed.includes('anonymous'));
        it(`${caller} → ${allowed ? 'allowed' : 'denied'}`, async () => {
          const { path, body } = await row.request(caller);
          const res = await api.call(row.method, path, { key: keys[caller], body });
          if (allowed) {
            expect(res.status, res.text).toBeGreaterThanOrEqual(200);
            expect(res.status, res.text).toBeLessThan(300);
          } else if (caller === 'anonymous' || caller === 'revoked') {
            expect(res.status, res.text).toBe(401);
            // A 401 names its scheme (RFC 9110 §15.5.2), a page's too.
            expect(res.headers.get('www-authenticate')).toBe('Bearer realm="certmark"');
            // A page answers its sign-in page to both.
            if (!row.page) {
              expect(res.headers.get('content-type')).toContain('application/problem+json');
              // The 401 says why a key that was sent was not taken.
              if (caller === 'revoked') expect(res.body.detail).toBe('unknown or revoked API key');
            }
          } else {
            expect([403, 404], res.text).toContain(res.status);
            if (!row.page) expect(res.body.code).toMatch(/forbidden|not_found/);
          }
        });
      }
    });
  }
});
