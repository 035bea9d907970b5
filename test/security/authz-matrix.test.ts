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
type Caller = 'anonymous' | 'issuerA' | 'issuerB' | 'customs' | 'supervisor' | 'admin' | 'revoked';
const callers: Caller[] = [
  'anonymous',
  'issuerA',
  'issuerB',
  'customs',
  'supervisor',
  'admin',
  'revoked',
];
const everyone: Caller[] = ['anonymous', 'issuerA', 'issuerB', 'customs', 'supervisor', 'admin'];

interface Row {
  name: string;
  method: 'GET' | 'POST' | 'DELETE';
  /** Builds a fresh request (mutations need a fresh subject per caller). */
  request: () => Promise<{ path: string; body?: unknown }>;
  allowed: Caller[];
}

describe('authorization matrix', () => {
  let ctx: TestContext;
  let api: Client;
  let a: IssuerFixture;
  let b: IssuerFixture;
  const keys = {} as Record<Caller, string | undefined>;
  let certA: any;

  beforeAll(async () => {
    ctx = await createTestContext();
    api = client(ctx.app);
    a = await createIssuer(ctx, { name: 'Issuer A' });
    b = await createIssuer(ctx, { name: 'Issuer B' });
    certA = await issueCertificate(api, a.key);
    const revoked = await api.post('/v1/api-keys', { role: 'supervisor' }, ctx.adminKey);
    await api.delete(`/v1/api-keys/${revoked.body.id}`, ctx.adminKey);
    Object.assign(keys, {
      anonymous: undefined,
      issuerA: a.key,
      issuerB: b.key,
      customs: await createRoleKey(ctx, 'customs'),
      supervisor: await createRoleKey(ctx, 'supervisor'),
      admin: ctx.adminKey,
      revoked: revoked.body.key,
    });
  });
  afterAll(async () => ctx.close());

  const freshCertA = async () => (await issueCertificate(api, a.key)).id as string;

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
      name: 'OpenAPI',
      method: 'GET',
      request: async () => ({ path: '/openapi.json' }),
      allowed: everyone,
    },
  ];

  for (const row of rows) {
    describe(row.name, () => {
      for (const caller of callers) {
        const allowed = row.allowed.includes(caller);
        it(`${caller} → ${allowed ? 'allowed' : 'denied'}`, async () => {
          const { path, body } = await row.request();
          const res = await api.call(row.method, path, { key: keys[caller], body });
          if (allowed) {
            expect(res.status, res.text).toBeGreaterThanOrEqual(200);
            expect(res.status, res.text).toBeLessThan(300);
          } else if (caller === 'anonymous' || caller === 'revoked') {
            expect(res.status, res.text).toBe(401);
            expect(res.headers.get('content-type')).toContain('application/problem+json');
          } else {
            expect([403, 404], res.text).toContain(res.status);
            expect(res.body.code).toMatch(/forbidden|not_found/);
          }
        });
      }
    });
  }
});
