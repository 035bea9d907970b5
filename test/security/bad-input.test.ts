import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/db/client';
import {
  client,
  createTestContext,
  listen,
  postChunks,
  type Client,
  type TestContext,
} from '../helpers';
import {
  USCC,
  certificateBody,
  createIssuer,
  createRoleKey,
  type IssuerFixture,
} from '../fixtures';

/** Every bad input: a 4xx problem+json with a machine code, never a 5xx, nothing written. */
describe('bad input', () => {
  let ctx: TestContext;
  let api: Client;
  let issuer: IssuerFixture;

  const counts = async () => {
    const [row] = rowsOf<{ certificates: string; audit: string; issuers: string; keys: string }>(
      await ctx.handle.db.execute(sql`SELECT
        (SELECT count(*) FROM certificates) AS certificates,
        (SELECT count(*) FROM audit_log) AS audit,
        (SELECT count(*) FROM issuers) AS issuers,
        (SELECT count(*) FROM api_keys) AS keys`),
    );
    return row;
  };

  const expectProblem = (
    res: Awaited<ReturnType<Client['post']>>,
    status: number,
    code?: string,
  ) => {
    expect(res.status, res.text).toBe(status);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body).toMatchObject({
      status,
      code: expect.any(String),
      detail: expect.any(String),
    });
    if (code) expect(res.body.code).toBe(code);
    expect(res.text).not.toMatch(/at \w+ \(|node_modules|SELECT |INSERT |syntax error/i);
  };

  const parsed = async (res: Response) => {
    const text = await res.text();
    return { text, body: JSON.parse(text) };
  };

  beforeAll(async () => {
    ctx = await createTestContext();
    api = client(ctx.app);
    issuer = await createIssuer(ctx);
  });
  afterAll(async () => ctx.close());

  const badCertificates: [string, Record<string, unknown>, string][] = [
    ['number with spaces', { number: '2024 0107' }, 'number'],
    ['number with SQL', { number: "1'; DROP TABLE certificates; --" }, 'number'],
    ['unknown scheme', { scheme: 'CCCC' }, 'scheme'],
    ['holder without USCC in CN', { holder: { name: 'A' } }, 'holder.uscc'],
    [
      'USCC with a wrong check character',
      { holder: { name: 'A', uscc: '914403001922038217' } },
      'holder.uscc',
    ],
    [
      'USCC with a wrong organization-code check',
      { holder: { name: 'A', uscc: '91440300192203822F' } },
      'holder.uscc',
    ],
    [
      'USCC with a forbidden letter',
      { holder: { name: 'A', uscc: '91440300192203821I' } },
      'holder.uscc',
    ],
    ['USCC in lower case', { holder: { name: 'A', uscc: '9144030071526726xg' } }, 'holder.uscc'],
    [
      'manufacturer with a bad USCC',
      { manufacturer: { name: 'M', uscc: '123' } },
      'manufacturer.uscc',
    ],
    ['factory without USCC', { factories: [{ name: 'F' }] }, 'factories.0.uscc'],
    ['country not ISO', { holder: { name: 'A', country: 'China' } }, 'holder.country'],
    ['country not assigned', { holder: { name: 'A', country: 'XX' } }, 'holder.country'],
    ['country withdrawn', { manufacturer: { name: 'A', country: 'YU' } }, 'manufacturer.country'],
    ['empty holder name', { holder: { name: ' ', uscc: USCC.holder } }, 'holder.name'],
    ['control characters', { holder: { name: 'A\u0000B', uscc: USCC.holder } }, 'holder.name'],
    ['no scope', { scope: [] }, 'scope'],
    ['scope without models', { scope: [{ product: 'P', models: [] }] }, 'scope.0.models'],
    ['wildcard in the middle', { scope: [{ product: 'P', models: ['X*1'] }] }, 'scope.0.models.0'],
    ['two wildcards', { scope: [{ product: 'P', models: ['**'] }] }, 'scope.0.models.0'],
    [
      'a wildcard after a space',
      { scope: [{ product: 'P', models: [' *x'] }] },
      'scope.0.models.0',
    ],
    [
      'bad HS code',
      { scope: [{ product: 'P', models: ['A'], hsCode: '84713' }] },
      'scope.0.hsCode',
    ],
    ['validFrom not a date', { validFrom: '2024-13-01' }, 'validFrom'],
    ['validFrom 30 February', { validFrom: '2024-02-30' }, 'validFrom'],
    [
      'validUntil before validFrom',
      { validFrom: '2025-01-01', validUntil: '2024-01-01' },
      'validUntil',
    ],
    [
      'validUntil equal to validFrom',
      { validFrom: '2025-01-01', validUntil: '2025-01-01' },
      'validUntil',
    ],
    ['quantity on CCC', { quantity: 10 }, 'quantity'],
    ['purpose on CCC', { purpose: 'display_only' }, 'purpose'],
    [
      'exemption without quantity',
      { scheme: 'CCC_EXEMPTION', purpose: 'display_only' },
      'quantity',
    ],
    ['exemption without purpose', { scheme: 'CCC_EXEMPTION', quantity: 5 }, 'purpose'],
    [
      'exemption with zero quantity',
      { scheme: 'CCC_EXEMPTION', quantity: 0, purpose: 'other' },
      'quantity',
    ],
    [
      'exemption with fractional quantity',
      { scheme: 'CCC_EXEMPTION', quantity: 1.5, purpose: 'other' },
      'quantity',
    ],
    [
      'exemption with unknown purpose',
      { scheme: 'CCC_EXEMPTION', quantity: 5, purpose: 'resale' },
      'purpose',
    ],
    ['validFrom before 1900', { validFrom: '1899-12-31' }, 'validFrom'],
    ['validFrom in year 0', { validFrom: '0000-01-01' }, 'validFrom'],
    [
      'NUL in an address',
      { holder: { name: 'A', uscc: USCC.holder, address: 'x\u0000' } },
      'holder.address',
    ],
    ['a lone surrogate in a standard', { standards: ['GB \ud800'] }, 'standards.0'],
    [
      'a noncharacter in a model',
      { scope: [{ product: 'P', models: ['X\uffff'] }] },
      'scope.0.models.0',
    ],
    ['no signatory', { signatory: undefined }, 'signatory'],
    ['unknown field', { discount: true }, ''],
    ['standards not strings', { standards: [1] }, 'standards.0'],
  ];

  it.each(badCertificates)(
    'certificate: %s → 400 with a field error',
    async (_name, override, path) => {
      const before = await counts();
      const res = await api.post('/v1/certificates', certificateBody(override), issuer.key);
      expectProblem(res, 400, 'validation_failed');
      if (path) expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(path);
      expect(await counts()).toEqual(before);
    },
  );

  it('takes an exemption purpose in the SPEC’s words and answers its code', async () => {
    const exemptions = await createIssuer(ctx, {
      name: 'Exemption Authority',
      kind: 'exemption_authority',
      schemes: ['CCC_EXEMPTION'],
    });
    const res = await api.post(
      '/v1/certificates',
      certificateBody({ scheme: 'CCC_EXEMPTION', quantity: 5, purpose: 'R&D or test samples' }),
      exemptions.key,
    );
    expect(res.status, res.text).toBe(201);
    expect(res.body.purpose).toBe('rd_or_test_samples');
  });

  it('refuses out-of-range dates and unstorable text in queries, paths and verifications', async () => {
    expectProblem(
      await api.post('/v1/verify/certificate', { number: 'x', at: '1899-12-31' }),
      400,
      'validation_failed',
    );
    expectProblem(
      await api.post('/v1/verify/certificate', { number: 'x', at: '1800-01-01T00:00:00Z' }),
      400,
      'validation_failed',
    );
    const nul = await api.post('/v1/verify/mark', { code: 'x', product: { model: 'a\u0000' } });
    expectProblem(nul, 400, 'validation_failed');
    expect(nul.body.errors).toEqual([
      { path: 'product.model', message: expect.stringMatching(/NUL/) },
    ]);
    const query = await api.get('/v1/registry/certificates?holder=a%00b');
    expectProblem(query, 400, 'validation_failed');
    expect(query.body.errors[0].path).toBe('query.holder');
    const path = await api.get('/m/AB%00CD');
    expectProblem(path, 400, 'validation_failed');
    expect(path.body.errors[0].path).toBe('param.code');
  });

  it('accepts a foreign holder without USCC', async () => {
    const res = await api.post(
      '/v1/certificates',
      certificateBody({ holder: { name: 'Acme GmbH', country: 'DE' } }),
      issuer.key,
    );
    expect(res.status, res.text).toBe(201);
  });

  it('refuses a scheme the issuer is not approved for (403) and a duplicate number (409), writing nothing', async () => {
    const before = await counts();
    expectProblem(
      await api.post('/v1/certificates', certificateBody({ scheme: 'GAP' }), issuer.key),
      403,
      'scheme_not_approved',
    );
    expect(await counts()).toEqual(before);
    const body = certificateBody();
    expect((await api.post('/v1/certificates', body, issuer.key)).status).toBe(201);
    const after = await counts();
    expectProblem(await api.post('/v1/certificates', body, issuer.key), 409, 'duplicate_number');
    expect(await counts()).toEqual(after);
  });

  it('malformed JSON → 400 malformed_json', async () => {
    for (const raw of ['{"number": ', '{number: 1}', 'null', '[]', '"text"']) {
      const res = await api.call('POST', '/v1/certificates', { key: issuer.key, body: raw });
      expect(res.status, raw).toBe(400);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
    }
  });

  it('a body that is not JSON, or has no content type → 415 unsupported_media_type, nothing written', async () => {
    const before = await counts();
    const body = JSON.stringify(certificateBody());
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'text/csv']) {
      const res = await api.call('POST', '/v1/certificates', {
        key: issuer.key,
        body,
        headers: { 'content-type': contentType },
      });
      expectProblem(res, 415, 'unsupported_media_type');
    }
    // Bytes with no Content-Type at all.
    const bare = await ctx.app.request('/v1/verify/certificate', {
      method: 'POST',
      body: new TextEncoder().encode(JSON.stringify({ number: 'x' })),
    });
    expectProblem(
      { status: bare.status, headers: bare.headers, ...(await parsed(bare)) },
      415,
      'unsupported_media_type',
    );
    expect(await counts()).toEqual(before);
    // A JSON flavour (RFC 6839 +json) and parameters are still JSON.
    const flavoured = await api.call('POST', '/v1/verify/certificate', {
      body: JSON.stringify({ number: 'x' }),
      headers: { 'content-type': 'application/merge-patch+json; charset=utf-8' },
    });
    expect(flavoured.status).toBe(200);
    // A body in a content coding the service does not decode (RFC 9110 §15.5.16).
    const beforeCoded = await counts();
    for (const coding of ['gzip', 'br, gzip']) {
      const coded = await api.call('POST', '/v1/certificates', {
        key: issuer.key,
        body,
        headers: { 'content-type': 'application/json', 'content-encoding': coding },
      });
      expectProblem(coded, 415, 'unsupported_media_type');
    }
    expect(await counts()).toEqual(beforeCoded);
    const identity = await api.call('POST', '/v1/verify/certificate', {
      body: JSON.stringify({ number: 'x' }),
      headers: { 'content-type': 'application/json', 'content-encoding': 'identity' },
    });
    expect(identity.status).toBe(200);
    // Without a body there is nothing coded.
    const bodiless = await ctx.app.request('/healthz', { headers: { 'content-encoding': 'gzip' } });
    expect(bodiless.status).toBe(200);
  });

  it('a known path with another method → 405 method_not_allowed with Allow', async () => {
    const cases: [string, string, string][] = [
      ['DELETE', '/v1/verify/certificate', 'POST'],
      ['GET', '/v1/verify/mark', 'POST'],
      ['PUT', '/v1/certificates/00000000-0000-4000-8000-000000000000', 'GET, HEAD'],
      ['POST', '/healthz', 'GET, HEAD'],
      ['PATCH', '/v1/api-keys', 'GET, HEAD, POST'],
      ['GET', '/v1/api-keys/00000000-0000-4000-8000-000000000000', 'DELETE'],
    ];
    for (const [method, path, allow] of cases) {
      const res = await api.call(method, path, { key: ctx.adminKey });
      expectProblem(res, 405, 'method_not_allowed');
      expect(res.headers.get('allow'), `${method} ${path}`).toBe(allow);
    }
    // Unknown paths stay 404, and an allowed method is not refused.
    expectProblem(await api.call('DELETE', '/v1/nothing-here'), 404, 'not_found');
    expect((await api.call('HEAD', '/healthz')).status).toBe(200);
  });

  it('bodies over 1 MiB → 413', async () => {
    const before = await counts();
    const res = await api.post(
      '/v1/certificates',
      certificateBody({ standards: ['x'.repeat(1024 * 1024 + 10)] }),
      issuer.key,
    );
    expectProblem(res, 413, 'payload_too_large');
    expect(await counts()).toEqual(before);
  });

  it('over real HTTP: a declared or a chunked body over 1 MiB → 413; a chunked small one is read', async () => {
    const server = await listen(ctx.app);
    const { port } = server;
    const post = (chunks: string[], headers: Record<string, string>) =>
      postChunks(port, '/v1/verify/mark', headers, chunks);
    try {
      const big = JSON.stringify({ code: 'A'.repeat(1024 * 1024 + 10) });
      const json = { 'content-type': 'application/json' };
      const declared = await post([big], {
        ...json,
        'content-length': String(Buffer.byteLength(big)),
      });
      expect(declared).toMatchObject({ status: 413, body: { code: 'payload_too_large' } });
      const chunked = await post([big.slice(0, 600_000), big.slice(600_000)], json);
      expect(chunked).toMatchObject({ status: 413, body: { code: 'payload_too_large' } });
      const small = await post(['{"code":', '"NOT-A-MARK"}'], json);
      expect(small).toMatchObject({ status: 200, body: { verdict: 'forged' } });
    } finally {
      await server.close();
    }
  });

  it('bad path and query parameters → 400', async () => {
    expectProblem(await api.get('/v1/certificates/not-a-uuid'), 400, 'validation_failed');
    expectProblem(await api.get("/v1/certificates/1' OR '1'='1"), 400);
    expectProblem(
      await api.get('/v1/registry/certificates?pageSize=100000'),
      400,
      'validation_failed',
    );
    expectProblem(await api.get('/v1/registry/certificates?scheme=DROP'), 400, 'validation_failed');
    expectProblem(
      await api.get('/v1/certificates/00000000-0000-4000-8000-000000000000'),
      404,
      'not_found',
    );
    expectProblem(await api.get('/v1/nothing-here'), 404, 'not_found');
  });

  it('a query parameter the operation does not take → 400 naming it; pages ignore them', async () => {
    for (const [query, name] of [
      ['?status=revoked', 'status'],
      ['?holder=x&Holder=y', 'Holder'],
      ['?scheme[]=CCC', 'scheme[]'],
      // Named, not replayed: a control character or a bidi override escaped, a long name cut.
      ['?a%00b%E2%80%AEc=1', 'a\\u{0000}b\\u{202E}c'],
      [`?${'n'.repeat(3000)}=1`, `${'n'.repeat(64)}…`],
    ]) {
      const res = await api.get(`/v1/registry/certificates${query}`);
      expectProblem(res, 400, 'validation_failed');
      expect(res.body.errors).toEqual([
        { path: `query.${name}`, message: 'is not a parameter of this operation' },
      ]);
    }
    const proof = await api.get('/v1/transparency/proof/consistency?from=1&to=1&form=2');
    expectProblem(proof, 400, 'validation_failed');
    expect(proof.body.errors.map((e: { path: string }) => e.path)).toEqual(['query.form']);
    // What WeChat and other apps add to a shared link: the page is answered as without them.
    const id = crypto.randomUUID();
    const plain = await ctx.app.request(`/c/${id}`);
    const shared = await ctx.app.request(`/c/${id}?from=singlemessage&isappinstalled=0`);
    expect(shared.status).toBe(plain.status);
    expect(shared.headers.get('content-type')).toMatch(/^text\/html/);
  });

  it('an API parameter given twice, or a required one missing, is a 400 that says so', async () => {
    for (const query of ['?scheme=CCC&scheme=CCC', '?scheme=CCC&scheme=GAP&page=1']) {
      const res = await api.get(`/v1/registry/certificates${query}`);
      expectProblem(res, 400, 'validation_failed');
      expect(res.body.errors).toEqual([
        { path: 'query.scheme', message: 'is given more than once' },
      ]);
    }
    const proof = await api.get('/v1/transparency/proof/consistency?from=1&Form=2');
    expectProblem(proof, 400, 'validation_failed');
    expect(proof.body.errors).toEqual([
      { path: 'query.to', message: 'is required' },
      { path: 'query.Form', message: 'is not a parameter of this operation' },
    ]);
  });

  it('a query parameter that is not valid percent-encoding of UTF-8 is a 400 naming it', async () => {
    // Read as literal text, `%E4%B8` (a character cut short) was searched for and found nothing.
    for (const [query, name] of [
      ['?holder=%E4%B8', 'holder'],
      ['?number=%ZZ', 'number'],
      ['?holder=ok&scheme=CCC%', 'scheme'],
      ['?hol%E4der=x', 'hol%E4der'],
    ]) {
      const res = await api.get(`/v1/registry/certificates${query}`);
      expectProblem(res, 400, 'validation_failed');
      expect(res.body.errors).toEqual([
        { path: `query.${name}`, message: 'is not valid percent-encoding of UTF-8 text' },
      ]);
    }
    const audit = await api.get('/v1/audit?subject=%C3', await createRoleKey(ctx, 'supervisor'));
    expectProblem(audit, 400, 'validation_failed');
    // Encoded properly, the same characters are a search like any other.
    const fine = await api.get(`/v1/registry/certificates?holder=${encodeURIComponent('中%')}`);
    expect(fine.status).toBe(200);
  });

  it('an API operation that changes state or takes a body refuses every query parameter', async () => {
    // `?at=` read as nothing answered for today; `?dryRun=true` issued marks for real.
    const verify = await api.post('/v1/verify/certificate?at=2020-01-01', { number: 'X' });
    expectProblem(verify, 400, 'validation_failed');
    expect(verify.body.errors).toEqual([
      { path: 'query.at', message: 'is not a parameter of this operation' },
    ]);
    const before = await counts();
    const marks = await api.post(
      `/v1/certificates/${crypto.randomUUID()}/marks?dryRun=true`,
      { count: 1 },
      issuer.key,
    );
    expectProblem(marks, 400, 'validation_failed');
    expect(marks.body.errors.map((e: { path: string }) => e.path)).toEqual(['query.dryRun']);
    expect(await counts()).toEqual(before);
    // A read without parameters still ignores them (a cache-busting `_=`).
    expect((await api.get('/.well-known/jwks.json?_=1')).status).toBe(200);
  });

  it('a page parameter given twice is read as given once: the page, never a 400', async () => {
    // A shared link keeps its own `lang=` or `region=` and the app that opens it may add its own.
    const id = crypto.randomUUID();
    const plain = await ctx.app.request(`/c/${id}?lang=en&region=350100`, {
      headers: { accept: 'text/html' },
    });
    for (const query of ['?lang=en&lang=en', '?lang=en&lang=zh&region=350100&region=110000']) {
      const res = await ctx.app.request(`/c/${id}${query}`, { headers: { accept: 'text/html' } });
      expect(res.status, query).toBe(plain.status);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.headers.get('content-language')).toBe(plain.headers.get('content-language'));
    }
    const offline = await ctx.app.request('/verify/offline?lang=en&lang=en');
    expect(offline.status).toBe(200);
    expect(offline.headers.get('content-type')).toMatch(/^text\/html/);
  });

  it('registry search as a form sends it: a blank field is no filter, a scheme in lower case the scheme', async () => {
    const all = await api.get('/v1/registry/certificates');
    expect(all.body.total).toBeGreaterThan(0);
    const blank = await api.get('/v1/registry/certificates?number=&uscc=&holder=&scheme=&issuer=');
    expect(blank.status, blank.text).toBe(200);
    expect(blank.body).toEqual(all.body);
    const byScheme = await api.get('/v1/registry/certificates?number=&scheme=CCC&page=&pageSize=');
    expect(byScheme.status).toBe(200);
    expect(byScheme.body.items.every((c: { scheme: string }) => c.scheme === 'CCC')).toBe(true);
    expect(byScheme.body).toMatchObject({ page: 1, pageSize: 20 });
    // A scheme typed in lower case is the scheme.
    expect((await api.get('/v1/registry/certificates?scheme=ccc')).body).toEqual(byScheme.body);
    expectProblem(await api.get('/v1/registry/certificates?scheme=cccx'), 400, 'validation_failed');
    // A required one left empty is still refused.
    const proof = await api.get('/v1/transparency/proof/consistency?from=&to=1');
    expectProblem(proof, 400, 'validation_failed');
    expect(proof.body.errors.map((e: { path: string }) => e.path)).toEqual(['query.from']);
  });

  it('injection-looking search terms are data, not SQL', async () => {
    for (const holder of ["' OR 1=1 --", '%', '_', '\\', "'; DROP TABLE certificates; --"]) {
      const res = await api.get(`/v1/registry/certificates?holder=${encodeURIComponent(holder)}`);
      expect(res.status, holder).toBe(200);
      expect(res.body.items).toEqual([]);
    }
    const res = await api.get(
      `/v1/registry/certificates?holder=${encodeURIComponent('Shenzhen Example')}`,
    );
    expect(res.body.total).toBeGreaterThan(0);
  });

  it('issuers and API keys validate every field', async () => {
    const before = await counts();
    const badIssuers = [
      {},
      { name: 'X', kind: 'lab', schemes: ['CCC'] },
      { name: 'X', kind: 'certification_body', schemes: [] },
      { name: 'X', kind: 'certification_body', schemes: ['NOPE'] },
      { name: '', kind: 'certification_body', schemes: ['CCC'] },
      { name: 'X', kind: 'certification_body', schemes: ['CCC'], country: 'cn' },
      { name: 'X', kind: 'certification_body', schemes: ['CCC'], country: 'XX' },
      { name: 'X', kind: 'certification_body', schemes: ['CCC'], country: 'EU' },
    ];
    for (const body of badIssuers)
      expectProblem(await api.post('/v1/issuers', body, ctx.adminKey), 400, 'validation_failed');
    expectProblem(
      await api.post('/v1/api-keys', { role: 'root' }, ctx.adminKey),
      400,
      'validation_failed',
    );
    expectProblem(
      await api.post('/v1/api-keys', { role: 'issuer' }, ctx.adminKey),
      400,
      'validation_failed',
    );
    expectProblem(
      await api.post('/v1/api-keys', { role: 'customs', issuerId: issuer.id }, ctx.adminKey),
      400,
      'validation_failed',
    );
    expectProblem(
      await api.post(
        '/v1/api-keys',
        { role: 'issuer', issuerId: '00000000-0000-4000-8000-000000000000' },
        ctx.adminKey,
      ),
      422,
    );
    expectProblem(
      await api.post(`/v1/issuers/${issuer.id}/status`, { status: 'closed' }, ctx.adminKey),
      400,
      'validation_failed',
    );
    expect(await counts()).toEqual(before);
  });

  it('verification requests are validated, well-formed ones always get 200', async () => {
    expectProblem(await api.post('/v1/verify/certificate', {}), 400, 'validation_failed');
    expectProblem(
      await api.post('/v1/verify/certificate', { number: 'x', at: 'yesterday' }),
      400,
      'validation_failed',
    );
    expectProblem(
      await api.post('/v1/verify/certificate', { number: 'x', presenter: {} }),
      400,
      'validation_failed',
    );
    // A presenter's USCC has both check characters enforced, as everywhere (SPEC): a typing error
    // is the caller's to mend, not a misuse to report to supervisors.
    for (const [path, body] of [
      ['/v1/verify/certificate', { number: 'x' }],
      ['/v1/verify/mark', { code: '1234567890123456' }],
    ] as const) {
      for (const uscc of ['914403001922038217', '91350100MA2Y0000X0', 'not a uscc']) {
        const res = await api.post(path, { ...body, presenter: { uscc } });
        expectProblem(res, 400, 'validation_failed');
        expect(res.body.errors).toEqual([
          { path: 'presenter.uscc', message: expect.stringMatching(/^not a valid USCC/) },
        ]);
      }
    }
    expectProblem(
      await api.post('/v1/verify/certificate', { number: 'x', extra: 1 }),
      400,
      'validation_failed',
    );
    expect(
      (await api.post('/v1/verify/certificate', { credential: '<script>alert(1)</script>' }))
        .status,
    ).toBe(200);
  });

  it('a bad verification date says what it takes, not only "Invalid input"', async () => {
    for (const at of [
      'yesterday',
      '0000-00-00',
      '2024-02-30',
      '+275760-09-13',
      '2024-02-28T12:00:00',
    ]) {
      const res = await api.post('/v1/verify/certificate', { number: 'x', at });
      expectProblem(res, 400, 'validation_failed');
      const [error] = res.body.errors as { path: string; message: string }[];
      expect(error, at).toMatchObject({ path: 'at' });
      expect(error!.message, at).toMatch(/YYYY-MM-DD/);
      expect(error!.message, at).toMatch(/offset/);
    }
  });

  it('status changes are validated', async () => {
    const cert = await api.post('/v1/certificates', certificateBody(), issuer.key);
    const path = `/v1/certificates/${cert.body.id}/status`;
    expectProblem(
      await api.post(
        path,
        { status: 'deleted', reason: 'x', signatory: { name: 'a' } },
        issuer.key,
      ),
      400,
    );
    expectProblem(
      await api.post(path, { status: 'suspended', signatory: { name: 'a' } }, issuer.key),
      400,
    );
    expectProblem(await api.post(path, { status: 'suspended', reason: 'x' }, issuer.key), 400);
    expectProblem(
      await api.post(path, { status: 'valid', reason: 'x', signatory: { name: 'a' } }, issuer.key),
      409,
      'status_unchanged',
    );
  });

  it('malformed Authorization headers → 401', async () => {
    for (const authorization of ['Basic abc', 'Bearer', 'Bearer a b', `Bearer ${'x'.repeat(40)}`]) {
      const res = await api.call('GET', '/v1/api-keys', { headers: { authorization } });
      expect(res.status, authorization).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('Bearer');
    }
  });
});
