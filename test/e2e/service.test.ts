import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, createServices } from '../../src/app';
import { fixedClock } from '../../src/clock';
import { loadConfig } from '../../src/config';
import { openDatabase } from '../../src/db/client';
import {
  client,
  createTestContext,
  createTestDatabase,
  testKeys,
  TEST_NOW,
  type TestContext,
} from '../helpers';
import { startFaultProxy } from '../fault-proxy';
import { createIssuer, issueCertificate } from '../fixtures';

describe('service endpoints', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext();
  });
  afterAll(async () => ctx.close());

  it('healthz, readyz, openapi.json and the docs page', async () => {
    const api = client(ctx.app);
    expect((await api.get('/healthz')).body).toEqual({ status: 'ok' });
    expect((await api.get('/readyz')).body).toEqual({ status: 'ready' });
    const doc = (await api.get('/openapi.json')).body;
    expect(doc.openapi).toBe('3.1.0');
    for (const path of [
      '/healthz',
      '/readyz',
      '/.well-known/jwks.json',
      '/v1/certificates',
      '/v1/verify/certificate',
      '/v1/verify/mark',
      '/v1/issuers',
      '/v1/api-keys',
      '/v1/registry/certificates',
      '/v1/customs/exemptions/consume',
      '/v1/alerts/{id}/resolve',
      '/v1/transparency/checkpoint',
      '/v1/inspections/draws',
      '/m/{code}',
      '/supervisor',
    ]) {
      expect(Object.keys(doc.paths)).toContain(path);
    }
    const docs = await api.get('/docs');
    expect(docs.status).toBe(200);
    expect(docs.text).toContain('/openapi.json');
  });

  it('echoes a request id and answers problems with it', async () => {
    const res = await client(ctx.app).get('/v1/nothing', undefined, { 'x-request-id': 'req-123' });
    expect(res.headers.get('x-request-id')).toBe('req-123');
    expect(res.body.requestId).toBe('req-123');
  });

  it('logs one line per request, never a key or a credential', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const deps = {
      db: ctx.handle.db,
      config: ctx.config,
      keys: ctx.keys,
      clock: ctx.clock,
      logger: pino({ level: 'info' }, sink),
    };
    const app = createApp(deps, ctx.services);
    const api = client(app);
    const issuer = await createIssuer({ ...ctx, app });
    const cert = await issueCertificate(api, issuer.key);
    lines.length = 0;
    await api.post('/v1/verify/certificate', { credential: cert.credential }, issuer.key);
    await api.get(`/v1/registry/certificates?number=${cert.number}`);
    expect(lines).toHaveLength(2);
    const entry = JSON.parse(lines[0]!);
    expect(entry).toMatchObject({
      method: 'POST',
      path: '/v1/verify/certificate',
      status: 200,
      role: 'issuer',
    });
    const all = lines.join('\n');
    expect(all).not.toContain(issuer.key);
    expect(all).not.toContain(cert.credential.split('.')[2]);
  });

  it('limits anonymous requests per address when configured (429 with Retry-After)', async () => {
    const config = loadConfig({
      RATE_LIMIT_PER_MINUTE: '3',
      PUBLIC_BASE_URL: 'https://certmark.test',
    });
    const app = createApp(
      { db: ctx.handle.db, config, keys: ctx.keys, clock: ctx.clock },
      ctx.services,
    );
    // A junk key counts like an anonymous request: answered as one, and counted as one.
    const junkFirst = await app.request('/v1/issuers', {
      headers: { authorization: 'Bearer cm_junk' },
    });
    expect(junkFirst.status).toBe(200);
    expect(junkFirst.headers.get('ratelimit-remaining')).toBe('2');
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await app.request('/v1/issuers')).status);
    expect(statuses).toEqual([200, 200, 429, 429]);
    const limited = await app.request('/v1/issuers');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    // A junk key is no way around the limit: it counts like an anonymous request (429, not 401).
    const junk = await app.request('/v1/issuers', { headers: { authorization: 'Bearer cm_junk' } });
    expect(junk.status).toBe(429);
    // Liveness is never limited (a probe shares its address with others); readiness reads the
    // database, so it is.
    expect((await app.request('/healthz')).status).toBe(200);
    // It reads no key either: a junk one there is no look-up outside the limit.
    expect(
      (await app.request('/healthz', { headers: { authorization: 'Bearer cm_junk' } })).status,
    ).toBe(200);
    expect((await app.request('/readyz')).status).toBe(429);
    // An authenticated caller is accountable by key, not limited by address.
    expect(
      (await app.request('/v1/api-keys', { headers: { authorization: `Bearer ${ctx.adminKey}` } }))
        .status,
    ).toBe(200);
  });

  it('answers 429 on a page with a page in its language, and problem+json to the API', async () => {
    const config = loadConfig({
      RATE_LIMIT_PER_MINUTE: '1',
      PUBLIC_BASE_URL: 'https://certmark.test',
    });
    const app = createApp(
      { db: ctx.handle.db, config, keys: ctx.keys, clock: ctx.clock },
      ctx.services,
    );
    const browser = { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' };
    expect((await app.request('/verify/offline', { headers: browser })).status).toBe(200);

    const pages: { path: string; headers?: Record<string, string>; lang: string; words: string }[] =
      [
        { path: '/m/NOTAMARK', lang: 'zh-CN', words: '请稍后再试' },
        { path: '/M/NOTAMARK?lang=en', lang: 'en', words: 'Please try again shortly' },
        { path: `/c/${crypto.randomUUID()}`, lang: 'zh-CN', words: '请稍后再试' },
        {
          path: '/verify/offline',
          headers: { 'accept-language': 'en-GB,en;q=0.9' },
          lang: 'en',
          words: 'Please try again shortly',
        },
        { path: '/supervisor', lang: 'zh-CN', words: '请稍后再试' },
        { path: '/supervisor?lang=en', lang: 'en', words: 'Please try again shortly' },
      ];
    for (const page of pages) {
      const res = await app.request(page.path, { headers: { ...browser, ...page.headers } });
      expect(res.status, page.path).toBe(429);
      expect(res.headers.get('content-type'), page.path).toMatch(/^text\/html/);
      const retryAfter = Number(res.headers.get('retry-after'));
      expect(retryAfter, page.path).toBeGreaterThan(0);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
      const body = await res.text();
      expect(body).toContain(`<html lang="${page.lang}">`);
      expect(body).toContain(page.words);
      expect(body).toContain(`data-retry-after="${retryAfter}"`);
    }

    // A form post to the supervisor's sign-in is a page too.
    const signIn = await app.request('/supervisor/session', {
      method: 'POST',
      headers: { ...browser, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'key=x',
    });
    expect(signIn.status).toBe(429);
    expect(signIn.headers.get('content-type')).toMatch(/^text\/html/);

    // A page asked for JSON, and every API path, keep problem+json.
    const asJson = await app.request('/m/NOTAMARK', { headers: { accept: 'application/json' } });
    expect(asJson.status).toBe(429);
    expect(asJson.headers.get('content-type')).toBe('application/problem+json');
    expect(((await asJson.json()) as { code: string }).code).toBe('rate_limited');
    for (const path of ['/v1/issuers', '/v1/verify/mark']) {
      const api = await app.request(path, { headers: browser });
      expect(api.status, path).toBe(429);
      expect(api.headers.get('content-type'), path).toBe('application/problem+json');
      expect(Number(api.headers.get('retry-after'))).toBeGreaterThan(0);
    }
  });
});

describe('database outage', () => {
  it('answers 503 with Retry-After within seconds, and recovers by itself', async () => {
    const database = await createTestDatabase();
    const url = new URL(database.url);
    const proxy = await startFaultProxy({ host: url.hostname, port: Number(url.port || 5432) });
    const handle = await openDatabase({ databaseUrl: proxy.urlFor(database.url), dataDir: '' });
    const config = loadConfig({ RATE_LIMIT_PER_MINUTE: '0' });
    const deps = {
      db: handle.db,
      config,
      keys: testKeys(),
      clock: fixedClock(TEST_NOW),
      ping: handle.ping,
    };
    const app = createApp(deps, createServices(deps));
    try {
      expect((await app.request('/v1/issuers')).status).toBe(200);
      await proxy.refuse();
      proxy.reset();
      const started = Date.now();
      for (const path of ['/v1/issuers', '/readyz']) {
        const res = await app.request(path);
        expect(res.status).toBe(503);
        expect(res.headers.get('retry-after')).toBe('5');
        const body = (await res.json()) as { code: string };
        expect(body.code).toBe('database_unavailable');
      }
      expect(Date.now() - started).toBeLessThan(10_000);
      expect((await app.request('/healthz')).status).toBe(200);
      await proxy.heal();
      let status = 0;
      for (let i = 0; i < 20 && status !== 200; i++) {
        status = (await app.request('/v1/issuers')).status;
        if (status !== 200) await new Promise((r) => setTimeout(r, 250));
      }
      expect(status).toBe(200);
    } finally {
      await proxy.close();
      await handle.close().catch(() => {});
      await database.drop();
    }
  });
});
