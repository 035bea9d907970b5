import type { Client, TestContext } from './helpers';
import { client } from './helpers';

/** Valid USCCs (GB 32100 and GB 11714 checks both hold). */
export const USCC = {
  holder: '914403001922038216',
  other: '9144030071526726XG',
} as const;

export interface IssuerFixture {
  id: string;
  key: string;
  kid: string;
}

export async function createIssuer(
  ctx: TestContext,
  overrides: Record<string, unknown> = {},
): Promise<IssuerFixture> {
  const api = client(ctx.app);
  const issuer = await api.post(
    '/v1/issuers',
    {
      name: 'China Quality Certification Centre',
      kind: 'certification_body',
      schemes: ['CCC', 'ORGANIC', 'ISO9001'],
      accreditationNo: 'CNCA-R-2002-001',
      ...overrides,
    },
    ctx.adminKey,
  );
  if (issuer.status !== 201) throw new Error(`issuer: ${issuer.status} ${issuer.text}`);
  const key = await api.post(
    '/v1/api-keys',
    { role: 'issuer', issuerId: issuer.body.id },
    ctx.adminKey,
  );
  if (key.status !== 201) throw new Error(`api key: ${key.status} ${key.text}`);
  return { id: issuer.body.id, key: key.body.key, kid: issuer.body.keys[0].kid };
}

export async function createRoleKey(
  ctx: TestContext,
  role: 'admin' | 'customs' | 'supervisor' | 'subscriber',
): Promise<string> {
  const res = await client(ctx.app).post('/v1/api-keys', { role }, ctx.adminKey);
  if (res.status !== 201) throw new Error(`api key: ${res.status} ${res.text}`);
  return res.body.key;
}

let counter = 0;

export function certificateBody(overrides: Record<string, unknown> = {}) {
  counter += 1;
  return {
    number: `2024010701${String(100000 + counter)}`,
    scheme: 'CCC',
    holder: {
      name: 'Shenzhen Example Electronics Co., Ltd.',
      uscc: USCC.holder,
      address: 'Nanshan, Shenzhen',
    },
    manufacturer: { name: 'Shenzhen Example Electronics Co., Ltd.', uscc: USCC.holder },
    factories: [{ name: 'Example Factory No. 1', uscc: USCC.holder, address: 'Bao’an, Shenzhen' }],
    scope: [{ product: 'Laptop computer', models: ['X1-100', 'X1-2*'], hsCode: '8471300000' }],
    standards: ['GB 4943.1-2022'],
    validFrom: '2024-01-01',
    validUntil: '2029-01-01',
    signatory: { name: '张三', title: 'Certification decision maker' },
    ...overrides,
  };
}

export async function issueCertificate(
  api: Client,
  issuerKey: string,
  overrides: Record<string, unknown> = {},
): Promise<any> {
  const res = await api.post('/v1/certificates', certificateBody(overrides), issuerKey);
  if (res.status !== 201) throw new Error(`certificate: ${res.status} ${res.text}`);
  return res.body;
}
