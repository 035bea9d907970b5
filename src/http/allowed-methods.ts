import type { RouterRoute } from 'hono/types';
import { createMiddleware } from 'hono/factory';
import { matchedRoutes } from 'hono/route';
import { TrieRouter } from 'hono/router/trie-router';
import { AppError } from '../errors';
import type { AppEnv } from './env';

/** Methods Hono answers without a route of their own: HEAD wherever GET is routed. */
const IMPLIED: Record<string, string[]> = { GET: ['HEAD'] };

interface RoutePattern {
  method: string;
  path: string;
}

/**
 * Which methods a path answers, read from the application's own routing table, so that a request
 * with another method gets 405 and `Allow` (RFC 9110 §15.5.5) instead of a 404 that would tell the
 * client the resource does not exist. Middleware (`ALL`) is not a route and is left out.
 *
 * Where a literal segment and a parameter could both take a path (`/v1/certificates/imports` and
 * `/v1/certificates/{id}`), the literal one owns it, read from left to right: `imports` is never a
 * certificate's id, so the path's methods are those of the imports' routes alone. See
 * `literalSegmentsFirst` for the requests the parameter's route would otherwise take.
 *
 * The table is built on first use: by then every router is mounted.
 *
 * @example
 * const allowed = allowedMethods(app);
 * allowed('/v1/certificates/3f6c…/status'); // ['POST']
 * allowed('/v1/certificates/imports'); // ['POST'], not GET of `/v1/certificates/{id}`
 */
export function allowedMethods(app: { routes: readonly RouterRoute[] }) {
  let router: TrieRouter<RoutePattern> | undefined;
  return function methodsFor(path: string): string[] {
    if (!router) {
      router = new TrieRouter<RoutePattern>();
      for (const route of app.routes) {
        if (route.method !== 'ALL')
          router.add('ALL', route.path, { method: route.method, path: route.path });
      }
    }
    const [matches] = router.match('GET', path);
    const patterns = matches.map(([pattern]) => pattern);
    const methods = new Set<string>();
    for (const { method, path: pattern } of patterns) {
      if (patterns.some((other) => outranks(other.path, pattern))) continue;
      methods.add(method);
      for (const implied of IMPLIED[method] ?? []) methods.add(implied);
    }
    return [...methods].sort();
  };
}

/**
 * Refuses with 405 and `Allow` a request that only a parameter's route would take because a literal
 * route owns the path with other methods (`GET /v1/certificates/imports` would otherwise be read
 * as a certificate's id and answer 400 "Invalid UUID"). Only a request whose matched route could
 * be outranked pays for the look-up; the rest pass untouched.
 *
 * Mount it after authentication and ahead of the routes, as a 405 from `notFound` comes after
 * authentication too.
 *
 * @example app.use('*', literalSegmentsFirst(app, allowedMethods(app)))
 */
export function literalSegmentsFirst(
  app: { routes: readonly RouterRoute[] },
  methodsFor: (path: string) => string[],
) {
  let contested: Set<string> | undefined;
  return createMiddleware<AppEnv>(async function refuseOutranked(c, next) {
    contested ??= outrankablePatterns(app.routes);
    if (contested.size === 0) return next();
    const routed = matchedRoutes(c).some((r) => r.method !== 'ALL' && contested!.has(r.path));
    if (!routed) return next();
    const allow = methodsFor(c.req.path);
    if (allow.length > 0 && !allow.includes(c.req.method)) {
      throw new AppError('method_not_allowed', `${c.req.method} is not allowed here`, { allow });
    }
    await next();
  });
}

/** A segment's weight when two patterns could take the same path: a literal over a parameter. */
function rank(segment: string): number {
  if (segment.startsWith(':')) return 1;
  if (segment === '*') return 0;
  return 2;
}

/** Whether `a` owns the paths it shares with `b`: the first segment where they differ in kind. */
function outranks(a: string, b: string): boolean {
  const sa = a.split('/');
  const sb = b.split('/');
  for (let i = 0; i < Math.min(sa.length, sb.length); i++) {
    const difference = rank(sa[i]!) - rank(sb[i]!);
    if (difference !== 0) return difference > 0;
  }
  return false;
}

/**
 * The patterns another route could outrank on some path: a parameter where another pattern, alike
 * up to there, has a literal. Generous (later segments and parameters' patterns are not compared):
 * it only chooses which requests `literalSegmentsFirst` looks up.
 */
function outrankablePatterns(routes: readonly RouterRoute[]): Set<string> {
  const paths = [...new Set(routes.filter((r) => r.method !== 'ALL').map((r) => r.path))];
  const split = paths.map((p) => p.split('/'));
  const outrankable = new Set<string>();
  for (const [i, b] of split.entries()) {
    for (const a of split) {
      for (let s = 0; s < Math.min(a.length, b.length); s++) {
        const [sa, sb] = [a[s]!, b[s]!];
        if (rank(sa) === 2 && rank(sb) === 2) {
          if (sa !== sb) break;
          continue;
        }
        if (rank(sa) > rank(sb)) outrankable.add(paths[i]!);
        if (rank(sa) !== rank(sb)) break;
      }
    }
  }
  return outrankable;
}
