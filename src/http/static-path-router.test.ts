import { Hono } from 'hono';
import { TrieRouter } from 'hono/router/trie-router';
import { describe, expect, it } from 'vitest';
import { StaticPathRouter } from './static-path-router';

/** The same table on both routers: middleware on every path, literal and parameter routes. */
function table<T extends { add(method: string, path: string, handler: string): void }>(router: T) {
  router.add('ALL', '*', 'frame');
  router.add('POST', '/v1/verify/mark', 'verifyMark');
  router.add('GET', '/v1/certificates/imports', 'imports');
  router.add('GET', '/v1/certificates/:id', 'certificate');
  router.add('GET', '/v1/certificates/:id/status', 'status');
  return router;
}

describe('StaticPathRouter', () => {
  it('matches as the TrieRouter does, a parameter route and a path no route names included', () => {
    const trie = table(new TrieRouter<string>());
    const router = table(new StaticPathRouter<string>());
    for (const [method, path] of [
      ['POST', '/v1/verify/mark'],
      ['GET', '/v1/verify/mark'],
      ['GET', '/v1/certificates/imports'],
      ['GET', '/v1/certificates/abc'],
      ['GET', '/v1/certificates/abc/status'],
      ['GET', '/nowhere'],
    ] as const) {
      expect(router.match(method, path), `${method} ${path}`).toEqual(trie.match(method, path));
      // Asked again (kept or not), the same answer.
      expect(router.match(method, path)).toEqual(trie.match(method, path));
    }
  });

  it('keeps the match of a path a route names, and only those', () => {
    const router = table(new StaticPathRouter<string>());
    expect(router.match('POST', '/v1/verify/mark')).toBe(router.match('POST', '/v1/verify/mark'));
    expect(router.match('GET', '/v1/certificates/abc')).not.toBe(
      router.match('GET', '/v1/certificates/abc'),
    );
    expect(router.match('GET', '/nowhere')).not.toBe(router.match('GET', '/nowhere'));
  });

  it('routes an application: parameters, literal routes beside them and every middleware', async () => {
    const app = new Hono({ router: new StaticPathRouter() });
    const seen: string[] = [];
    app.use('*', async (c, next) => {
      seen.push(c.req.path);
      await next();
    });
    app.get('/v1/certificates/imports', (c) => c.text('imports'));
    app.get('/v1/certificates/:id', (c) => c.text(`certificate ${c.req.param('id')}`));
    app.post('/v1/verify/mark', (c) => c.text('verified'));
    for (let i = 0; i < 2; i++) {
      expect(await (await app.request('/v1/verify/mark', { method: 'POST' })).text()).toBe(
        'verified',
      );
      expect(await (await app.request('/v1/certificates/imports')).text()).toBe('imports');
      expect(await (await app.request(`/v1/certificates/c${i}`)).text()).toBe(`certificate c${i}`);
    }
    expect((await app.request('/v1/verify/mark')).status).toBe(404);
    expect(seen).toHaveLength(7);
  });

  it('holds the routes of a mounted application, and answers HEAD as GET', async () => {
    const app = new Hono({ router: new StaticPathRouter() });
    expect((await app.request('/v1/status')).status).toBe(404);
    app.route(
      '/v1',
      new Hono().get('/status', (c) => c.text('up')),
    );
    // Added after a first match: the kept matches are worked out again.
    expect(await (await app.request('/v1/status')).text()).toBe('up');
    const head = await app.request('/v1/status', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });
});
