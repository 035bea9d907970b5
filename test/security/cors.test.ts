import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../helpers';

const ORIGIN = 'https://wallet.example';

/**
 * A platform's or a wallet's web page calls the public API from its own origin: its preflights are
 * answered and its answers shared, while a keyed call's preflight is not granted `Authorization`
 * (the browser then never sends it) and the pages and /metrics are not offered at all.
 */
describe('cross-origin calls to the public API', () => {
  let ctx: TestContext;

  const preflight = (path: string, method: string, headers = 'content-type') =>
    ctx.app.request(path, {
      method: 'OPTIONS',
      headers: {
        origin: ORIGIN,
        'access-control-request-method': method,
        'access-control-request-headers': headers,
      },
    });

  beforeAll(async () => {
    ctx = await createTestContext();
  });
  afterAll(async () => ctx.close());

  it('answers a page’s preflight for verification with the path’s methods', async () => {
    for (const path of ['/v1/verify/mark', '/v1/verify/certificate']) {
      const res = await preflight(path, 'POST');
      expect(res.status, path).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
      expect(res.headers.get('access-control-allow-methods')).toBe('POST');
      expect(res.headers.get('access-control-allow-headers')).toContain('content-type');
      expect(res.headers.get('access-control-max-age')).toBe('600');
      expect(res.headers.get('access-control-allow-credentials')).toBeNull();
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
    // A JSON-LD processor in a page fetches the credentials' context.
    const context = await preflight('/ns/certmark/v1', 'GET', 'accept');
    expect(context.status).toBe(204);
    expect(context.headers.get('access-control-allow-methods')).toBe('GET, HEAD');
    const registry = await preflight('/v1/registry/certificates', 'GET', 'if-none-match');
    expect(registry.status).toBe(204);
    expect(registry.headers.get('access-control-allow-methods')).toBe('GET, HEAD');
  });

  it('shares every answer of the public API, whoever asked', async () => {
    const body = JSON.stringify({ code: 'hello' });
    const request = (headers: Record<string, string>) =>
      ctx.app.request('/v1/verify/mark', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
    const fromPage = await request({ origin: ORIGIN });
    expect(fromPage.status).toBe(200);
    expect((await fromPage.json()).verdict).toBe('forged');
    expect(fromPage.headers.get('access-control-allow-origin')).toBe('*');
    expect(fromPage.headers.get('access-control-expose-headers')).toContain('x-request-id');
    // The same on a server's request: a cache that keeps that answer serves pages as well.
    const fromServer = await request({});
    expect(fromServer.headers.get('access-control-allow-origin')).toBe('*');
    expect(fromServer.headers.get('vary')).toBeNull();
    // A refusal reaches the page as well, so it can show why.
    const refused = await ctx.app.request('/v1/verify/mark', {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: ORIGIN },
      body: '{',
    });
    expect(refused.status).toBe(400);
    expect(refused.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('never grants Authorization: a keyed call from a page fails its preflight', async () => {
    const res = await preflight('/v1/certificates', 'POST', 'authorization, content-type');
    expect(res.status).toBe(204);
    const allowed = res.headers.get('access-control-allow-headers')!.split(/,\s*/);
    expect(allowed).not.toContain('authorization');
  });

  it('offers neither the pages nor /metrics, and leaves other OPTIONS as they were', async () => {
    for (const path of ['/metrics', '/supervisor', '/verify/offline']) {
      const res = await preflight(path, 'GET');
      expect(res.status, path).not.toBe(204);
      expect(res.headers.get('access-control-allow-origin'), path).toBeNull();
    }
    expect((await preflight('/v1/no-such-thing', 'GET')).status).toBe(404);
    // OPTIONS without a preflight's request method is a method the API does not route.
    const plain = await ctx.app.request('/v1/verify/mark', { method: 'OPTIONS' });
    expect(plain.status).toBe(405);
    expect(plain.headers.get('allow')).toBe('POST');
  });
});
