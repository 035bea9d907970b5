import { Writable } from 'node:stream';
import { sql } from 'drizzle-orm';
import fc from 'fast-check';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeMarkCode } from '../../src/crypto/mark-code';
import { rowsOf } from '../../src/db/client';
import { client, createTestContext, type Client, type TestContext } from '../helpers';
import {
  USCC,
  certificateBody,
  createIssuer,
  createRoleKey,
  issueCertificate,
  type IssuerFixture,
} from '../fixtures';

/**
 * Property-based hostile input (fast-check) against every write, verify and search endpoint:
 * each case takes a valid request and puts one generated hostile value (NUL, lone surrogates,
 * control characters, noncharacters, look-alike letters, injection strings, huge or negative
 * numbers, out-of-range dates, wrong types, unknown fields…) in one of its body fields, query
 * parameters or path parameters. Whatever comes, the service answers: never a 5xx; a refusal is
 * problem+json with a machine code and writes nothing; a forged, misused or suspicious answer
 * raises or counts its alert. Then the whole run's log lines are searched for secrets.
 *
 * Bounded in time: each endpoint gets RUNS cases or TIME_LIMIT_MS, whichever ends first.
 */
const RUNS = 40;
const TIME_LIMIT_MS = 2_500;

/** Strings a hostile client sends. */
const hostileString = fc.oneof(
  fc.constantFrom(
    '\u0000',
    'a\u0000b',
    '\ud800',
    'x\udfffy',
    '\u0001',
    '\u001b[31mred',
    '\ufffe',
    '\uffff',
    '\ufffd',
    '\u{10ffff}',
    '\u202egnp.exe',
    'Ｘ１－１００',
    '𝐗1-100',
    "' OR 1=1 --",
    "'; DROP TABLE certificates; --",
    '<script>alert(1)</script>',
    ']]><!--',
    '%00',
    '../../etc/passwd',
    '\\',
    '',
    ' ',
    'x'.repeat(5_000),
    '0000-01-01',
    '1899-12-31',
    '10000-01-01',
    '+275760-09-13',
    '2024-02-30',
    '9999-12-31T23:59:59-14:00',
    '1e309',
    'NaN',
    '-1',
    '99999999999999999999',
  ),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 60 }),
);

/** Any JSON value a hostile client may put where a field is expected. */
const hostileValue = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  fc.integer(),
  fc.double(),
  fc.constantFrom(null, true, false, -1, 0, 1e308, Number.MAX_SAFE_INTEGER + 2, []),
  fc.array(hostileString, { maxLength: 3 }),
  fc.dictionary(hostileString, hostileString, { maxKeys: 2 }),
);

/** One change to a valid request: which slot (modulo the slots there are) gets which value. */
const mutation = fc.record({ slot: fc.nat(), value: hostileValue, asNewField: fc.boolean() });
type Mutation = { slot: number; value: unknown; asNewField: boolean };

type Json = Record<string, unknown>;

/** Every path to a leaf of a JSON value (array elements included). */
function leafPaths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(value))
    return value.length === 0 ? [prefix] : value.flatMap((v, i) => leafPaths(v, [...prefix, i]));
  if (value !== null && typeof value === 'object')
    return Object.entries(value).flatMap(([k, v]) => leafPaths(v, [...prefix, k]));
  return [prefix];
}

/** `base` with the mutation applied: one leaf replaced, or a new field added at the top. */
function mutate(base: Json, m: Mutation): Json {
  const copy = structuredClone(base);
  if (m.asNewField) {
    copy[`x${m.slot % 7}`] = m.value;
    return copy;
  }
  const paths = leafPaths(copy).filter((p) => p.length > 0);
  const path = paths[m.slot % paths.length]!;
  let node: any = copy;
  for (const key of path.slice(0, -1)) node = node[key];
  node[path[path.length - 1]!] = m.value;
  return copy;
}

/** A query string from `base` with one parameter (or a new one) set to the hostile value. */
function mutateQuery(base: Record<string, string>, m: Mutation): string {
  const names = Object.keys(base);
  const name = m.asNewField || names.length === 0 ? 'extra' : names[m.slot % names.length]!;
  const value = typeof m.value === 'string' ? m.value : JSON.stringify(m.value ?? null);
  const encoded = percentEncode(value);
  const rest = new URLSearchParams(Object.entries(base).filter(([k]) => k !== name)).toString();
  return `${rest ? `${rest}&` : ''}${name}=${encoded}`;
}

/** A path segment from the hostile value (strings only; other values as their JSON). */
function segment(m: Mutation): string {
  const value = typeof m.value === 'string' ? m.value : JSON.stringify(m.value ?? null);
  return percentEncode(value) || '%20';
}

/**
 * Percent-encodes a string; a lone surrogate (which UTF-8 cannot encode) is sent as the bytes a
 * careless client would send for it, %ED%A0%80 (CESU-8), which are not valid UTF-8.
 */
function percentEncode(value: string): string {
  return value.replace(/[\s\S]/gu, (ch) =>
    /\p{Cs}/u.test(ch) ? '%ED%A0%80' : encodeURIComponent(ch),
  );
}

interface Target {
  name: string;
  kind: 'write' | 'verify' | 'search';
  request(m: Mutation): {
    method: string;
    path: string;
    /** JSON, or a raw body sent with `contentType`. */
    body?: Json | string;
    contentType?: string;
    key?: string;
  };
}

describe('hostile input (property-based)', () => {
  const logLines: string[] = [];
  let ctx: TestContext;
  let api: Client;
  let issuer: IssuerFixture;
  let authority: IssuerFixture;
  let customsKey: string;
  let supervisorKey: string;
  let certificate: { id: string; number: string; credential: string };
  let exemption: { id: string; number: string };
  let batchId: string;
  let serials: string[];
  let codes: string[];
  let alertId: string;
  const tried = new Map<string, number>();
  const secrets: string[] = [];

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _encoding, done) {
        logLines.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    });
    ctx = await createTestContext({}, { logger: pino({ level: 'debug' }, sink) });
    api = client(ctx.app);
    issuer = await createIssuer(ctx);
    authority = await createIssuer(ctx, {
      name: 'Exemption Authority',
      kind: 'exemption_authority',
      schemes: ['CCC_EXEMPTION'],
    });
    customsKey = await createRoleKey(ctx, 'customs');
    supervisorKey = await createRoleKey(ctx, 'supervisor');
    certificate = await issueCertificate(api, issuer.key);
    exemption = await issueCertificate(api, authority.key, {
      scheme: 'CCC_EXEMPTION',
      quantity: 1_000_000,
      purpose: 'display_only',
    });
    const batch = await api.post(
      `/v1/certificates/${certificate.id}/marks`,
      { count: 30, model: 'X1-100', lot: 'L1' },
      issuer.key,
    );
    batchId = batch.body.batchId;
    const lines = (await api.get(`/v1/mark-batches/${batchId}/marks`, issuer.key)).text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { serial: string; code: string });
    serials = lines.map((l) => l.serial);
    codes = lines.map((l) => l.code);
    const forged = await api.post('/v1/verify/mark', { code: 'NOT-A-MARK' });
    expect(forged.body.verdict).toBe('forged');
    await settle();
    alertId = (await api.get('/v1/alerts?status=open', supervisorKey)).body.items[0].id;
    secrets.push(
      ctx.adminKey,
      issuer.key,
      authority.key,
      customsKey,
      supervisorKey,
      certificate.credential,
      ...codes,
      Buffer.from(ctx.keys.kek).toString('hex'),
      Buffer.from(ctx.keys.kek).toString('base64'),
      Buffer.from(ctx.keys.platformSeed).toString('hex'),
      Buffer.from(ctx.keys.platformSeed).toString('base64'),
    );
  });
  afterAll(async () => {
    // Import jobs accepted by the run finish before their database goes.
    await ctx?.services.certificateImports.whenIdle();
    await ctx?.close();
  });

  /** Lets buffered writes (scan log, alerts) reach the database. */
  async function settle(): Promise<void> {
    await ctx.services.markVerification.flushScanLog();
    const flushAlerts = (ctx.services.alerts as { flush?: () => Promise<void> }).flush;
    await flushAlerts?.call(ctx.services.alerts);
  }

  async function counts() {
    const [row] = rowsOf<Record<string, string>>(
      await ctx.handle.db.execute(sql`SELECT
        (SELECT count(*) FROM certificates) AS certificates,
        (SELECT count(*) FROM certificate_status_events) AS status_events,
        (SELECT count(*) FROM issuers) AS issuers,
        (SELECT count(*) FROM api_keys) AS api_keys,
        (SELECT count(*) FROM mark_batches) AS batches,
        (SELECT count(*) FROM marks WHERE status = 'void') AS void_marks,
        (SELECT count(*) FROM customs_consumptions) AS consumptions,
        (SELECT count(*) FROM reports) AS reports,
        (SELECT count(*) FROM inspection_draws) AS draws,
        (SELECT count(*) FROM alerts WHERE status = 'resolved') AS resolved_alerts,
        (SELECT count(*) FROM subscriptions) AS subscriptions`),
    );
    return row!;
  }

  const alertFindings = async () => {
    const [row] = rowsOf<{ n: string | null }>(
      await ctx.handle.db.execute(sql`SELECT sum(count) AS n FROM alerts`),
    );
    return Number(row?.n ?? 0);
  };

  let declarations = 0;
  const declarationNo = () => `22332026${String(10_000_000_000 + ++declarations).slice(-10)}`;
  let certificateNumbers = 0;

  const targets = (): Target[] => [
    // ---- writes
    {
      name: 'POST /v1/certificates',
      kind: 'write',
      request: (m) => ({
        method: 'POST',
        path: '/v1/certificates',
        key: issuer.key,
        body: mutate(
          certificateBody({ number: `H${Date.now()}${++certificateNumbers}` }) as Json,
          m,
        ),
      }),
    },
    {
      // A row the database cannot store is the import report's business (a 202 job); what the
      // request itself carries (the query, the media type) is refused at the door.
      name: 'POST /v1/certificates/imports',
      kind: 'write',
      request: (m) => ({
        method: 'POST',
        path: `/v1/certificates/imports?${mutateQuery({ dryRun: 'true' }, m)}`,
        key: issuer.key,
        contentType: 'application/x-ndjson',
        body: `${JSON.stringify(
          mutate(certificateBody({ number: `I${Date.now()}${++certificateNumbers}` }) as Json, m),
        )}\n`,
      }),
    },
    {
      name: 'GET /v1/certificates/imports/{importId}',
      kind: 'search',
      request: (m) => ({
        method: 'GET',
        key: issuer.key,
        path:
          m.slot % 2
            ? `/v1/certificates/imports/${segment(m)}`
            : `/v1/certificates/imports/${segment(m)}/report.csv`,
      }),
    },
    {
      name: 'POST /v1/certificates (exemption)',
      kind: 'write',
      request: (m) => ({
        method: 'POST',
        path: '/v1/certificates',
        key: authority.key,
        body: mutate(
          certificateBody({
            number: `E${Date.now()}${++certificateNumbers}`,
            scheme: 'CCC_EXEMPTION',
            quantity: 5,
            purpose: 'R&D or test samples',
          }) as Json,
          m,
        ),
      }),
    },
    {
      name: 'POST /v1/certificates/{id}/status',
      kind: 'write',
      request: (m) => ({
        method: 'POST',
        path: `/v1/certificates/${m.slot % 5 === 4 ? segment(m) : certificate.id}/status`,
        key: issuer.key,
        body: mutate({ status: 'suspended', reason: 'audit', signatory: { name: '李四' } }, m),
      }),
    },
    {
      name: 'POST /v1/certificates/{id}/marks',
      kind: 'write',
      request: (m) => ({
        method: 'POST',
        path: `/v1/certificates/${m.slot % 5 === 4 ? segment(m) : certificate.id}/marks`,
        key: issuer.key,
        body: mutate({ count: 1, model: 'X1-100', lot: 'LOT-7' }, m),
      }),
    },
    {
      name: 'POST /v1/marks/{serial}/void',
      kind: 'write',
      request: (m) => ({
        method: 'POST',
        path: `/v1/marks/${m.slot % 3 === 2 ? segment(m) : serials[m.slot % serials.length]}/void`,
        key: issuer.key,
        body: mutate({ reason: 'destroyed' }, m),
      }),
    },
    {
      name: 'POST /v1/issuers',
      kind: 'write',
      request: (m) => ({
        method: 'POST',
        path: '/v1/issuers',
        key: ctx.adminKey,
        body: mutate(
          {
            name: 'Hostile Body',
            kind: 'certification_body',
            schemes: ['CCC'],
            accreditationNo: 'CNCA-R-1',
            country: 'CN',
          },
          m,
        ),
      }),
    },
    {
      name: 'POST /v1/issuers/{id}/status',
      kind: 'write',
      request: (m) => ({
        method: 'POST',
        path: `/v1/issuers/${m.slot % 4 === 3 ? segment(m) : '00000000-0000-4000-8000-000000000000'}/status`,
        key: ctx.adminKey,
        body: mutate({ status: 'suspended', reason: 'inspection' }, m),
      }),
    },
    {
      name: 'POST /v1/api-keys',
      kind: 'write',
      request: (m) => ({
        method: 'POST',
        path: '/v1/api-keys',
        key: ctx.adminKey,
        body: mutate({ role: 'issuer', issuerId: issuer.id, label: 'line 3' }, m),
      }),
    },
    {
      name: 'POST /v1/customs/exemptions/consume',
      kind: 'write',
      request: (m) => ({
        method: 'POST',
        path: '/v1/customs/exemptions/consume',
        key: customsKey,
        body: mutate(
          {
            number: exemption.number,
            issuerId: authority.id,
            declarationNo: declarationNo(),
            quantity: 1,
            importerUscc: USCC.holder,
            port: 'Shenzhen Bay',
            model: 'X1-100',
          },
          m,
        ),
      }),
    },
    {
      name: 'POST /v1/reports',
      kind: 'write',
      request: (m) => ({
        method: 'POST',
        path: '/v1/reports',
        body: mutate(
          {
            code: codes[0]!,
            certificateNumber: certificate.number,
            description: 'label peels off',
            region: '350100',
            contact: 'a@b.example',
          },
          m,
        ),
      }),
    },
    {
      name: 'POST /v1/alerts/{id}/resolve',
      kind: 'write',
      request: (m) => ({
        method: 'POST',
        path: `/v1/alerts/${m.slot % 3 === 2 ? segment(m) : alertId}/resolve`,
        key: supervisorKey,
        body: mutate({ note: 'checked' }, m),
      }),
    },
    {
      name: 'POST /v1/inspections/draws',
      kind: 'write',
      request: (m) => ({
        method: 'POST',
        path: '/v1/inspections/draws',
        key: supervisorKey,
        body: mutate(
          {
            filter: { scheme: 'CCC', region: '44' },
            certificateCount: 1,
            inspectors: ['王五', '赵六'],
            inspectorCount: 1,
          },
          m,
        ),
      }),
    },
    // ---- verify
    {
      name: 'POST /v1/verify/certificate',
      kind: 'verify',
      request: (m) => ({
        method: 'POST',
        path: '/v1/verify/certificate',
        body: mutate(
          m.slot % 2
            ? { credential: certificate.credential, presenter: { uscc: USCC.other } }
            : {
                number: certificate.number,
                issuerId: issuer.id,
                presenter: { uscc: USCC.other },
                product: { model: 'Z9' },
                at: '2025-06-01',
              },
          m,
        ),
      }),
    },
    {
      name: 'POST /v1/verify/mark',
      kind: 'verify',
      request: (m) => ({
        method: 'POST',
        path: '/v1/verify/mark',
        body: mutate(
          {
            code: m.slot % 2 ? codes[m.slot % codes.length]! : `${codes[0]!.slice(0, 119)}A`,
            location: { region: '350100', lat: 26.07, lon: 119.3 },
            product: { model: 'Z9' },
            presenter: { uscc: USCC.other },
          },
          m,
        ),
      }),
    },
    {
      name: 'GET /m/{code}',
      kind: 'verify',
      request: (m) => ({
        method: 'GET',
        path:
          m.slot % 2
            ? `/m/${segment(m)}`
            : `/m/${codes[m.slot % codes.length]}?${mutateQuery({ region: '350100', lat: '26.1', lon: '119.3', lang: 'en' }, m)}`,
      }),
    },
    {
      name: 'GET /c/{id}',
      kind: 'verify',
      request: (m) => ({
        method: 'GET',
        path:
          m.slot % 2
            ? `/c/${segment(m)}`
            : `/c/${certificate.id}?${mutateQuery({ lang: 'zh' }, m)}`,
      }),
    },
    // ---- search and reads
    {
      name: 'GET /v1/registry/certificates',
      kind: 'search',
      request: (m) => ({
        method: 'GET',
        path: `/v1/registry/certificates?${mutateQuery(
          {
            number: certificate.number,
            uscc: USCC.holder,
            holder: 'Shenzhen',
            scheme: 'CCC',
            issuer: 'China',
            page: '1',
            pageSize: '5',
          },
          m,
        )}`,
      }),
    },
    {
      name: 'GET /v1/certificates/{id}',
      kind: 'search',
      request: (m) => ({ method: 'GET', path: `/v1/certificates/${segment(m)}` }),
    },
    {
      name: 'GET /v1/alerts',
      kind: 'search',
      request: (m) => ({
        method: 'GET',
        key: supervisorKey,
        path: `/v1/alerts?${mutateQuery({ status: 'open', reason: 'MALFORMED', issuer: issuer.id, since: '2026-01-01', page: '1' }, m)}`,
      }),
    },
    {
      name: 'GET /v1/audit',
      kind: 'search',
      request: (m) => ({
        method: 'GET',
        key: supervisorKey,
        path: `/v1/audit?${mutateQuery({ subject: certificate.id, subjectType: 'certificate', action: 'certificate.issue', since: '2026-01-01T00:00:00+08:00' }, m)}`,
      }),
    },
    {
      name: 'GET /v1/customs/refusals',
      kind: 'search',
      request: (m) => ({
        method: 'GET',
        key: supervisorKey,
        path: `/v1/customs/refusals?${mutateQuery({ reason: 'HOLDER_MISMATCH', issuer: authority.id, pageSize: '10' }, m)}`,
      }),
    },
    {
      name: 'GET /v1/customs/exemptions/{id}/consumptions',
      kind: 'search',
      request: (m) => ({
        method: 'GET',
        key: customsKey,
        path:
          m.slot % 2
            ? `/v1/customs/exemptions/${segment(m)}/consumptions`
            : `/v1/customs/exemptions/${exemption.id}/consumptions?${mutateQuery({ status: 'all', page: '1' }, m)}`,
      }),
    },
    {
      name: 'GET /v1/marks/{serial}/scans',
      kind: 'search',
      request: (m) => ({
        method: 'GET',
        key: supervisorKey,
        path:
          m.slot % 2
            ? `/v1/marks/${segment(m)}/scans`
            : `/v1/marks/${serials[0]}/scans?${mutateQuery({ page: '1', pageSize: '5' }, m)}`,
      }),
    },
    {
      name: 'GET /v1/inspections/draws',
      kind: 'search',
      request: (m) => ({
        method: 'GET',
        path: `/v1/inspections/draws?${mutateQuery({ page: '1', pageSize: '5' }, m)}`,
      }),
    },
    {
      name: 'POST /v1/subscriptions',
      kind: 'write',
      request: (m) => ({
        method: 'POST',
        path: '/v1/subscriptions',
        key: issuer.key,
        body: mutate(
          {
            url: 'https://hooks.example.com/certmark',
            events: ['certificate.status_changed', 'mark.flagged'],
            filter: { certificates: [certificate.number] },
          },
          m,
        ),
      }),
    },
    {
      name: 'GET /v1/mark-batches/{batchId}/labels.pdf',
      kind: 'search',
      request: (m) => ({
        method: 'GET',
        key: issuer.key,
        path:
          m.slot % 2
            ? `/v1/mark-batches/${segment(m)}/labels.pdf`
            : `/v1/mark-batches/${batchId}/labels.pdf?${mutateQuery({ stock: 'a4-3x7', from: '1', to: '5' }, m)}`,
      }),
    },
    {
      name: 'GET /v1/mark-batches/{batchId}/labels.svg',
      kind: 'search',
      request: (m) => ({
        method: 'GET',
        key: issuer.key,
        path:
          m.slot % 2
            ? `/v1/mark-batches/${segment(m)}/labels.svg`
            : `/v1/mark-batches/${batchId}/labels.svg?${mutateQuery({ page: '1' }, m)}`,
      }),
    },
  ];

  it('answers every hostile request with a 2xx or a 4xx problem, writing nothing it refuses', async () => {
    const all = targets();
    expect(all.length).toBeGreaterThanOrEqual(25);
    for (const target of all) {
      let runs = 0;
      // Past the deadline the remaining cases are skipped, not abandoned half-way (fast-check's
      // own interrupt would leave a request running into the next endpoint's counts).
      const deadline = performance.now() + TIME_LIMIT_MS;
      await fc.assert(
        fc.asyncProperty(mutation, async (m) => {
          if (performance.now() > deadline) return;
          runs += 1;
          const request = target.request(m);
          const before = target.kind === 'write' ? await counts() : undefined;
          const findingsBefore = target.kind === 'verify' ? await alertFindings() : 0;
          const res = await api.call(request.method, request.path, {
            key: request.key,
            body: request.body,
            headers: request.contentType ? { 'content-type': request.contentType } : undefined,
          });
          const label = `${target.name} ${request.path.slice(0, 200)} ${JSON.stringify(request.body)?.slice(0, 300)}`;
          expect(res.status, `${label} → ${res.text.slice(0, 300)}`).toBeLessThan(500);
          expect(res.text, label).not.toMatch(
            /at \w+ \(|node_modules|SELECT |INSERT |UPDATE |syntax error/,
          );
          const pageAnswer =
            /^GET \/[mc]\//.test(target.name) &&
            (res.headers.get('content-type') ?? '').startsWith('text/html');
          if (res.status >= 400 && pageAnswer) {
            // A consumer page refuses as a page (a typed serial's typo is a 422 page, a throttled
            // browser a 429 page); problem+json is for `Accept: application/json`.
            expect([422, 429], label).toContain(res.status);
            expect(res.text, label).toMatch(/^<!doctype html>/i);
          } else if (res.status >= 400) {
            expect(res.headers.get('content-type'), label).toContain('application/problem+json');
            expect(res.body?.code, label).toEqual(expect.any(String));
            if (before) expect(await counts(), label).toEqual(before);
          }
          const verdict = res.body?.verdict;
          if (res.status === 200 && ['forged', 'misused', 'suspicious'].includes(verdict)) {
            await settle();
            expect(await alertFindings(), `${label}: alert lost`).toBeGreaterThan(findingsBefore);
          }
        }),
        { numRuns: RUNS },
      );
      tried.set(target.name, runs);
    }
    // An import job takes hostile rows into its report; none of them fails the job itself.
    await ctx.services.certificateImports.whenIdle();
    const jobs = rowsOf<{ status: string; n: number }>(
      await ctx.handle.db.execute(
        sql`SELECT status, count(*)::int AS n FROM certificate_imports GROUP BY status`,
      ),
    );
    expect(jobs.filter((j) => j.status !== 'done')).toEqual([]);
    const total = [...tried.values()].reduce((a, b) => a + b, 0);
    console.info(
      `hostile input: ${total} generated cases over ${tried.size} endpoints (${[...tried]
        .map(([name, n]) => `${name}: ${n}`)
        .join('; ')})`,
    );
    expect(total).toBeGreaterThanOrEqual(tried.size * 5);
  }, 240_000);

  it('an alert is never lost over what cannot be stored: such values leave its context, not the alert', async () => {
    const before = await alertFindings();
    const at = ctx.clock.now();
    await ctx.services.alerts.raise({
      subjectType: 'code',
      subject: 'number:A\u0000B\ud800',
      verdict: 'forged',
      reasons: [{ code: 'NOT_IN_REGISTRY', message: 'no certificate numbered A\u0000B\ud800' }],
      channel: 'verify.certificate',
      at,
      region: '35\u00000100',
      context: {
        presenter: 'x\u0000y',
        model: '\udfff',
        number: 'A-1',
        nested: { a: 1 },
        lat: 26.1,
      },
    });
    await settle();
    expect(await alertFindings()).toBe(before + 1);
    const [row] = rowsOf<{ subject: string; context: unknown; reasons: { message: string }[] }>(
      await ctx.handle.db.execute(
        sql`SELECT subject, context, reasons FROM alerts WHERE subject LIKE 'number:AB%'`,
      ),
    );
    expect(row).toMatchObject({
      subject: 'number:AB',
      context: { number: 'A-1', lat: 26.1 },
      reasons: [{ message: 'no certificate numbered AB' }],
    });
  });

  it('no log line of the whole run carries an API key, a private key, a full credential or a full mark code', () => {
    expect(logLines.length).toBeGreaterThan(100);
    const text = logLines.join('\n');
    for (const secret of secrets) expect(text.includes(secret), 'a known secret').toBe(false);
    expect(text).not.toMatch(/cm_[A-Za-z0-9_-]{20,}/);
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/);
    // Any 120 base32 characters that decode as a mark (version, key id, serial with valid check
    // digits) are a full code, known to this run or not.
    const fullCodes = [...text.matchAll(/[A-Za-z2-7]{120,}/g)].flatMap(([run]) =>
      Array.from({ length: run.length - 119 }, (_, i) => run.slice(i, i + 120)).filter((code) => {
        try {
          decodeMarkCode(code);
          return true;
        } catch {
          return false;
        }
      }),
    );
    expect(fullCodes).toEqual([]);
  });
});
