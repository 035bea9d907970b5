import type { Context } from 'hono';

/**
 * Cross-origin calls (CORS): the public API answers any web page, so that a platform's or a
 * wallet's page can verify a mark or a certificate, search the registry or follow the log from the
 * browser. Only without a key: `Authorization` is not among the headers a preflight allows (an API
 * key does not belong in a web page), so a keyed call from another origin fails its preflight and
 * is never sent, and no answer is shared with credentials (`*`, no `Allow-Credentials`). The
 * consumer's and supervisors' pages and `/metrics` are not offered to other origins.
 */
const CROSS_ORIGIN_PREFIXES = ['/v1/', '/log/', '/.well-known/', '/ns/'] as const;
/** Beyond the CORS-safelisted ones: JSON bodies, conditional reads, a caller's request id. */
const ALLOWED_HEADERS = 'content-type, if-none-match, x-request-id';
/** What a page may read of an answer besides the safelisted headers. */
const EXPOSED_HEADERS = 'x-request-id, retry-after, etag, ratelimit-limit, ratelimit-remaining';
/** How long a browser may keep a preflight's answer. */
const PREFLIGHT_MAX_AGE_SECONDS = '600';

const offered = (path: string) => CROSS_ORIGIN_PREFIXES.some((prefix) => path.startsWith(prefix));

/**
 * The answer to a CORS preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) for
 * a path the public API routes: 204 with the path's methods. Anything else is not a preflight this
 * answers (undefined): it goes on to the routes (405 with `Allow`, or 404).
 *
 * @example
 * const preflight = preflightAnswer(c, allowedMethods(app));
 * if (preflight) c.res = preflight; // 204, Access-Control-Allow-Methods: POST
 * else await next();
 */
export function preflightAnswer(
  c: Context,
  methodsFor: (path: string) => string[],
): Response | undefined {
  if (c.req.method !== 'OPTIONS' || !offered(c.req.path)) return undefined;
  if (!c.req.header('origin') || !c.req.header('access-control-request-method')) return undefined;
  const methods = methodsFor(c.req.path);
  if (methods.length === 0) return undefined;
  return new Response(null, {
    status: 204,
    headers: {
      'access-control-allow-origin': '*',
      'access-control-allow-methods': methods.join(', '),
      'access-control-allow-headers': ALLOWED_HEADERS,
      'access-control-max-age': PREFLIGHT_MAX_AGE_SECONDS,
    },
  });
}

/**
 * Lets any page read an answer of the public API. On every answer, whether or not the request
 * carried `Origin` (Fetch, "CORS protocol and HTTP caches"): an answer a cache kept for a server's
 * request (a tile is kept for a year) then serves a page's as well, with no `Vary: Origin`.
 */
export function shareAcrossOrigins(c: Context): void {
  if (!offered(c.req.path)) return;
  c.res.headers.set('access-control-allow-origin', '*');
  c.res.headers.set('access-control-expose-headers', EXPOSED_HEADERS);
}
