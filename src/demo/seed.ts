import QRCode from 'qrcode';
import { and, asc, eq } from 'drizzle-orm';
import type { AppDeps, Services } from '../app';
import { issuers } from '../db/schema/issuers';
import { markBatches } from '../db/schema/mark-batches';
import { systemActor, type Principal } from '../auth/principal';
import type { IssueCertificateInput } from '../certificates/certificates.schemas';

const DEMO_BODY = '中国质量认证中心（演示） China Quality Certification Centre (demo)';
const DEMO_AUTHORITY = '深圳市市场监督管理局（演示） Shenzhen Market Supervision Bureau (demo)';

/** Valid USCCs (both check characters hold). */
const HOLDER_USCC = '914403001922038216';
const IMPORTER_USCC = '9144030071526726XG';

const signatory = { name: '张三', title: 'Certification decision maker' };

function demoCertificates(): IssueCertificateInput[] {
  const holder = {
    name: '深圳示例电子有限公司 Shenzhen Example Electronics Co., Ltd.',
    uscc: HOLDER_USCC,
    country: 'CN',
    address: '广东省深圳市南山区',
  };
  return [
    {
      number: '2024010901234567',
      scheme: 'CCC',
      holder,
      manufacturer: holder,
      factories: [
        {
          name: '深圳示例电子有限公司宝安工厂',
          uscc: HOLDER_USCC,
          country: 'CN',
          address: '广东省深圳市宝安区',
        },
      ],
      scope: [
        {
          product: '便携式计算机 Laptop computer',
          models: ['X1-100', 'X1-2*'],
          hsCode: '8471300000',
        },
      ],
      standards: ['GB 4943.1-2022', 'GB/T 9254.1-2021'],
      validFrom: '2024-01-09',
      validUntil: '2029-01-08',
      signatory,
    },
    {
      number: '001OP2400123',
      scheme: 'ORGANIC',
      holder: {
        name: '福建武夷山示例茶业有限公司 Wuyishan Example Tea Co., Ltd.',
        uscc: IMPORTER_USCC,
        country: 'CN',
        address: '福建省南平市武夷山市',
      },
      factories: [],
      scope: [{ product: '有机茶 Organic tea (大红袍)', models: ['DHP-250G', 'DHP-500G'] }],
      standards: ['GB/T 19630-2019'],
      validFrom: '2025-03-01',
      validUntil: '2026-12-31',
      signatory,
    },
    {
      number: '00124Q31234R0M',
      scheme: 'ISO9001',
      holder,
      factories: [],
      scope: [
        {
          product: '电子产品的设计与生产 Design and manufacture of electronic products',
          models: ['*'],
        },
      ],
      standards: ['GB/T 19001-2016 / ISO 9001:2015'],
      validFrom: '2024-06-01',
      validUntil: '2027-05-31',
      signatory,
    },
  ];
}

function demoExemption(): IssueCertificateInput {
  return {
    number: 'MZ2026-440300-0001',
    scheme: 'CCC_EXEMPTION',
    holder: {
      name: '深圳示例进出口有限公司 Shenzhen Example Import Co., Ltd.',
      uscc: IMPORTER_USCC,
      country: 'CN',
    },
    manufacturer: { name: 'Example GmbH', country: 'DE' },
    factories: [],
    scope: [
      {
        product: '测试用样品 Test samples: network switch',
        models: ['SW-48*'],
        hsCode: '8517622990',
      },
    ],
    standards: [],
    validFrom: '2026-01-01',
    validUntil: '2027-12-31',
    quantity: 500,
    purpose: 'rd_or_test_samples',
    signatory: { name: '李四', title: 'Exemption reviewer' },
  };
}

/** The label of the keys the demo mints: its own, so that a run again revokes only those. */
const DEMO_KEY_LABEL = 'certmark demo (npm run demo)';

/**
 * Seeds a small, realistic data set (idempotent: a second run only mints fresh API keys) and
 * prints what to try. Demo data only: never run against a production register.
 */
/** The first mark of the certificate's first finished batch; five new marks when it has none. */
async function demoMarkUrl(
  { db, services }: AppDeps & { services: Services },
  principal: Principal,
  certificateId: string,
): Promise<string | undefined> {
  const [done] = await db
    .select({ id: markBatches.id })
    .from(markBatches)
    .where(and(eq(markBatches.certificateId, certificateId), eq(markBatches.status, 'done')))
    .orderBy(asc(markBatches.createdAt))
    .limit(1);
  let batchId = done?.id;
  if (!batchId) {
    ({ batchId } = await services.marks.issueBatch(principal, certificateId, {
      count: 5,
      model: 'X1-100',
    }));
  }
  const reader = (await services.marks.exportBatch(principal, batchId, 'ndjson')).getReader();
  const { value } = await reader.read();
  await reader.cancel();
  const firstLine = new TextDecoder().decode(value).split('\n')[0];
  return firstLine ? (JSON.parse(firstLine) as { url: string }).url : undefined;
}

export async function seedDemo(deps: AppDeps & { services: Services }): Promise<void> {
  const { services, db, config } = deps;
  const base = config.publicBaseUrl;
  const [existing] = await db.select().from(issuers).where(eq(issuers.name, DEMO_BODY)).limit(1);
  const [existingAuthority] = await db
    .select()
    .from(issuers)
    .where(eq(issuers.name, DEMO_AUTHORITY))
    .limit(1);

  const body =
    existing ??
    (await services.issuers.createIssuer(systemActor, {
      name: DEMO_BODY,
      kind: 'certification_body',
      schemes: ['CCC', 'ORGANIC', 'ISO9001', 'ISO14001', 'GREEN', 'SERVICE'],
      accreditationNo: 'CNCA-R-2002-001',
    }));
  const authority =
    existingAuthority ??
    (await services.issuers.createIssuer(systemActor, {
      name: DEMO_AUTHORITY,
      kind: 'exemption_authority',
      schemes: ['CCC_EXEMPTION'],
    }));

  // A run again gives fresh keys in place of the last run's (revoked, so only the keys printed
  // last work: an outside walkthrough found every run's keys still working).
  for (const earlier of await services.apiKeys.listKeys())
    if (earlier.label === DEMO_KEY_LABEL && earlier.revokedAt === null)
      await services.apiKeys.revokeKey(systemActor, earlier.id);
  const mint = (role: 'issuer' | 'customs' | 'supervisor' | 'admin', issuerId?: string) =>
    services.apiKeys.createKey(systemActor, { role, issuerId, label: DEMO_KEY_LABEL });
  const bodyKey = await mint('issuer', body.id);
  const authorityKey = await mint('issuer', authority.id);
  const customsKey = await mint('customs');
  const supervisorKey = await mint('supervisor');

  let certificate:
    { id: string; number: string; credential: string; verifyUrl: string } | undefined;
  let markUrl: string | undefined;
  if (!existing) {
    const principal: Principal = { keyId: bodyKey.id, role: 'issuer', issuerId: body.id };
    for (const input of demoCertificates()) {
      const issued = await services.certificates.issueCertificate(principal, input);
      certificate ??= issued;
    }
    await services.certificates.issueCertificate(
      { keyId: authorityKey.id, role: 'issuer', issuerId: authority.id },
      demoExemption(),
    );
  } else {
    const found = await services.certificates.searchRegistry({
      number: demoCertificates()[0]!.number,
      page: 1,
      pageSize: 1,
    });
    if (found.items[0]) certificate = await services.certificates.getCertificate(found.items[0].id);
  }
  // A product mark to scan, on every run: the demo's first finished batch, or a new one.
  if (certificate) {
    const principal: Principal = { keyId: bodyKey.id, role: 'issuer', issuerId: body.id };
    markUrl = await demoMarkUrl(deps, principal, certificate.id);
  }

  const lines = [
    '',
    '  certmark demo data is ready.',
    '',
    `  API keys (shown once):`,
    `    issuer (certification body)   ${bodyKey.key}`,
    `    issuer (exemption authority)  ${authorityKey.key}`,
    `    customs                       ${customsKey.key}`,
    `    supervisor                    ${supervisorKey.key}`,
    '',
    '  Try:',
    `    open ${base}/docs                      interactive API documentation`,
    `    curl ${base}/v1/registry/certificates?scheme=CCC`,
    `    curl -X POST ${base}/v1/verify/certificate -H 'content-type: application/json' \\`,
    `         -d '{"number":"2024010901234567","product":{"model":"X1-250"}}'`,
    `    curl -X POST ${base}/v1/verify/certificate -H 'content-type: application/json' \\`,
    `         -d '{"number":"2024010901234567","presenter":{"uscc":"${IMPORTER_USCC}"}}'   # misused`,
    `    curl -X POST ${base}/v1/customs/exemptions/consume -H 'authorization: Bearer ${customsKey.key}' \\`,
    `         -H 'content-type: application/json' -d '{"number":"MZ2026-440300-0001","declarationNo":"531620261000012345","quantity":20,"importerUscc":"${IMPORTER_USCC}","model":"SW-4810"}'`,
    `    curl ${base}/.well-known/jwks.json`,
    `    open ${base}/supervisor                 supervisor's page (sign in with the supervisor key)`,
    `    open ${base}/verify/offline             check a mark in the browser with no network (save the page)`,
  ];
  if (markUrl) {
    lines.push('', `  A product mark (open it on a phone, or scan the QR below): ${markUrl}`, '');
    lines.push(
      await QRCode.toString(markUrl.toUpperCase(), {
        type: 'terminal',
        small: true,
        errorCorrectionLevel: 'M',
      }),
    );
  }
  if (certificate) {
    lines.push('', `  The CCC certificate's QR code (${certificate.verifyUrl}):`, '');
    lines.push(
      await QRCode.toString(certificate.verifyUrl, {
        type: 'terminal',
        small: true,
        errorCorrectionLevel: 'M',
      }),
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
