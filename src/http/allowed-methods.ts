import type { RouterRoute } from 'hono/types';
import { TrieRouter } from 'hono/router/trie-router';

/** Methods Hono answers without a route of their own: HEAD wherever GET is routed. */
const IMPLIED: Record<string, string[]> = { GET: ['HEAD'] };

/**
 * Which methods a path answers, read from the application's own routing table, so that a request
 * with another method gets 405 and `Allow` (RFC 9110 §15.5.5) instead of a 404 that would tell the
 * client the resource does not exist. Middleware (`ALL`) is not a route and is left out.
 *
 * The table is built on first use: by then every router is mounted.
 *
 * @example
 * const allowed = allowedMethods(app);
 * allowed('/v1/certificates/3f6c…/status'); // ['POST']
 */
export function allowedMethods(app: { routes: readonly RouterRoute[] }) {
  let router: TrieRouter<string> | undefined;
  return function methodsFor(path: string): string[] {
    if (!router) {
      router = new TrieRouter<string>();
      for (const route of app.routes) {
        if (route.method !== 'ALL') router.add('ALL', route.path, route.method);
      }
    }
    const [matches] = router.match('GET', path);
    const methods = new Set<string>();
    for (const [method] of matches) {
      methods.add(method);
      for (const implied of IMPLIED[method] ?? []) methods.add(implied);
    }
    return [...methods].sort();
  };
}
