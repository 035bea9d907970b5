import type { Context } from 'hono';
import type { AppError } from '../errors';
import { prefersJson } from '../http/accept';
import { pickLang } from './i18n';
import { newNonce, pageHeaders } from './layout';
import { rateLimitedPage, unreadableLinkPage } from './pages';

/**
 * The server-rendered pages: a mark's (`/m/…`, `/M/…`), a certificate's (`/c/…`), the offline
 * verifier, the supervisor's page and its forms, the API reference. Everything else is the API.
 */
const PAGE_PATH = /^\/(?:[mMc]\/[^/]+|verify\/offline|supervisor(?:\/[^/]*)?|docs)\/?$/;

/**
 * Whether `c` asks for a page a person reads in a browser, rather than for JSON. The mark and
 * certificate pages answer JSON to an Accept that weighs JSON above HTML (prefersJson): such a
 * client gets problem+json like any API caller.
 */
export function isPageRequest(c: Context): boolean {
  return PAGE_PATH.test(c.req.path) && !prefersJson(c.req.header('accept'));
}

/**
 * A page's answer to a request refused with 429 `rate_limited` before it reached the page: the
 * page's language (`?lang=`, else Accept-Language, else Chinese, as the pages choose) and the
 * problem's `Retry-After`, with the pages' own security headers.
 *
 * @example app.onError((e, c) => isRateLimited(e) && isPageRequest(c) ? rateLimitedPageResponse(c, e) : …)
 */
export async function rateLimitedPageResponse(c: Context, error: AppError): Promise<Response> {
  const lang = pickLang(c.req.query('lang'), c.req.header('accept-language'));
  const retryAfterSeconds = error.details.retryAfterSeconds ?? 60;
  const nonce = newNonce();
  const body = await rateLimitedPage({ lang, nonce, retryAfterSeconds });
  const requestId = c.get('requestId') as string | undefined;
  return new Response(body.toString(), {
    status: 429,
    headers: {
      'content-type': 'text/html; charset=UTF-8',
      ...pageHeaders(nonce, lang),
      'retry-after': String(retryAfterSeconds),
      vary: 'Accept, Accept-Language',
      ...(requestId ? { 'x-request-id': requestId } : {}),
    },
  });
}

/** A mark's or a certificate's page link (`/m/…`, `/M/…`, `/c/…`). */
const LINK_PATH = /^\/(?:([mM])|c)\/[^/]+\/?$/;

/**
 * A browser's answer to a mark's or certificate's link whose code or id the page could not read
 * (400 `validation_failed` on the path parameter: too long, a control character): the page a
 * person who scanned it can read, under the same status, instead of problem+json. Undefined for
 * anything else, and for a client whose Accept does not name HTML (it keeps the API's problem).
 */
export async function unreadableLinkResponse(
  c: Context,
  error: AppError,
): Promise<Response | undefined> {
  if (error.code !== 'validation_failed') return undefined;
  const link = LINK_PATH.exec(c.req.path);
  if (!link || !isPageRequest(c) || (c.req.method !== 'GET' && c.req.method !== 'HEAD'))
    return undefined;
  if (!/\btext\/html\b/i.test(c.req.header('accept') ?? '')) return undefined;
  // Only the link itself (its code or id, the path parameter): a genuine mark's link with a
  // malformed query (`?utm=%FF`, GBK-encoded tracking) must never read as forged.
  const errors = error.details.errors ?? [];
  if (errors.length === 0 || !errors.every((e) => e.path.startsWith('param'))) return undefined;
  const lang = pickLang(c.req.query('lang'), c.req.header('accept-language'));
  const nonce = newNonce();
  const body = await unreadableLinkPage({ lang, nonce, subject: link[1] ? 'mark' : 'certificate' });
  const requestId = c.get('requestId') as string | undefined;
  return new Response(c.req.method === 'HEAD' ? null : body.toString(), {
    status: error.status,
    headers: {
      'content-type': 'text/html; charset=UTF-8',
      ...pageHeaders(nonce, lang),
      vary: 'Accept, Accept-Language',
      ...(requestId ? { 'x-request-id': requestId } : {}),
    },
  });
}
