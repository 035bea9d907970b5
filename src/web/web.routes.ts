import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import type { HtmlEscapedString } from 'hono/utils/html';
import type { Clock } from '../clock';
import type { CertificatesService } from '../certificates/certificates.service';
import { AppError } from '../errors';
import { prefersJson } from '../http/accept';
import {
  createRouter,
  defineRoute,
  pageRateLimited,
  problemContent,
  publicAccess,
} from '../http/openapi';
import type {
  MarkVerificationService,
  VerifyMarkRequest,
} from '../verification/mark-verification.service';
import type { SignedBundle } from '../offline-bundle/offline-bundle.service';
import { isUuid, isValidRegionCode } from '../shared/identifiers';
import type {
  CertificateVerification,
  VerificationService,
} from '../verification/verification.service';
import { reason, verdictOf, type Reason, type VerdictObserver } from '../verification/verdict';
import { pickLang, type Lang } from './i18n';
import { newNonce, pageHeaders } from './layout';
import { offlineVerifierBundle } from './offline-verifier';
import { certificatePage, lookupPage, markPage, offlinePage, serialTypoPage } from './pages';
import { REPEAT_VIEWS_COOKIE, RepeatViews } from './repeat-views';

export interface WebRoutesDeps {
  markVerification: MarkVerificationService;
  verification: VerificationService;
  certificates: CertificatesService;
  /** An offline bundle of every issuer, as `GET /v1/offline-bundle` serves it. */
  offlineBundle: () => Promise<SignedBundle>;
  clock: Clock;
  /** Views of one mark from one browser within `windowMs` count once (0: every view counts). */
  repeatViews: { secret: Uint8Array; windowMs: number; secureCookie: boolean };
  /** Told of the answers this page gives itself (a link that names no certificate). */
  onVerdict?: VerdictObserver;
}

const htmlContent = {
  'text/html': { schema: z.string() },
  'application/json': { schema: z.unknown() },
};

/**
 * One of a page's own query parameters. Given twice (a shared link keeps its `lang=` or `region=`
 * and the app that opens it adds its own), the first counts, as `c.req.query()` reads it: a page
 * answers what it can, never a 400 for how an app built its link.
 */
const pageParam = z.preprocess(
  (value) => (Array.isArray(value) ? value[0] : value),
  z.string().optional(),
);

const pageQuery = z.object({
  lang: pageParam,
  region: pageParam,
  lat: pageParam,
  lon: pageParam,
});

const markPageRoute = (prefix: 'm' | 'M') =>
  defineRoute({
    operationId: prefix === 'm' ? 'getMarkPage' : 'getMarkPageUpperCase',
    method: 'get',
    path: `/${prefix}/{code}`,
    security: publicAccess,
    tags: ['Consumer pages'],
    summary:
      'The consumer’s page for a scanned mark (public); JSON with `Accept: application/json`',
    description:
      'Chinese by default, English with `Accept-Language: en` or `?lang=en`. Viewing it counts as a verification, once per browser within a window (`SCAN_REPEAT_WINDOW_HOURS`): the page keeps a first-party cookie `cm_views` of the marks it was counted for, and a repeat view is logged but not counted. The QR code holds the URL upper-cased, so `/M/{code}` answers too, and the code is accepted in any letter case.',
    hide: prefix === 'M',
    request: { params: z.object({ code: z.string().max(4096) }), query: pageQuery },
    responses: {
      200: { description: 'The verdict page', content: htmlContent },
      422: {
        description:
          'A typed serial whose check digits fail: a page saying so, or a problem (`serial_check_failed`) with `Accept: application/json`',
        content: { 'text/html': { schema: z.string() }, ...problemContent },
      },
      ...pageRateLimited,
    },
  });

const certificatePageRoute = defineRoute({
  operationId: 'getCertificatePage',
  method: 'get',
  path: '/c/{id}',
  security: publicAccess,
  tags: ['Consumer pages'],
  summary:
    'The page a certificate’s QR code links to (public); JSON with `Accept: application/json`',
  request: { params: z.object({ id: z.string().max(200) }), query: pageQuery },
  responses: {
    200: { description: 'The verdict page', content: htmlContent },
    302: {
      description:
        'A certificate number in place of the id, held by one certificate: to that certificate’s page',
    },
    ...pageRateLimited,
  },
});

const offlinePageRoute = defineRoute({
  operationId: 'getOfflineVerifierPage',
  method: 'get',
  path: '/verify/offline',
  security: publicAccess,
  tags: ['Consumer pages'],
  summary:
    'A page that checks marks and certificate credentials in the browser, offline, with a bundle (public)',
  description:
    'Self-contained: it carries the offline verifier (the same module as `certmark verify --bundle`, on `@noble/ed25519`) and an offline bundle (`GET /v1/offline-bundle`: keys, status lists, the log checkpoint), so a saved copy works with no network, and a newer bundle can be loaded into it. It checks signatures, revocation and suspension bits, a mark’s void bit and validity dates; every answer shows how old its status information is, and past the bundle’s limit says “status unknown”. It cannot tell whether a mark is cloned.',
  request: { query: z.object({ lang: pageParam }) },
  responses: {
    200: { description: 'The page', content: { 'text/html': { schema: z.string() } } },
    ...pageRateLimited,
  },
});

const lookupPageRoute = defineRoute({
  operationId: 'getLookupPage',
  method: 'get',
  path: '/verify',
  security: publicAccess,
  tags: ['Consumer pages'],
  summary: 'Where a person types a label’s serial or a certificate’s number (public)',
  description:
    'Two plain forms, no script: a serial (or a mark’s link) opens the mark’s page, a certificate number the certificate’s page.',
  request: { query: z.object({ lang: pageParam }) },
  responses: {
    200: { description: 'The page', content: { 'text/html': { schema: z.string() } } },
    ...pageRateLimited,
  },
});

const rootRoute = defineRoute({
  operationId: 'getRoot',
  method: 'get',
  path: '/',
  security: publicAccess,
  tags: ['Consumer pages'],
  summary: 'The service’s address, opened in a browser: to the lookup page (public)',
  request: { query: z.object({ lang: pageParam }) },
  responses: {
    302: { description: 'To `/verify` (the API is described at `/docs` and `/openapi.json`)' },
    ...pageRateLimited,
  },
});

const typedMarkRoute = defineRoute({
  operationId: 'openTypedMark',
  method: 'get',
  path: '/m',
  security: publicAccess,
  tags: ['Consumer pages'],
  summary: 'The lookup form’s serial or mark link: to its page (public)',
  request: { query: z.object({ code: pageParam, lang: pageParam }) },
  responses: {
    302: { description: 'To `/m/{code}` (to `/verify` when nothing was typed)' },
    ...pageRateLimited,
  },
});

const typedNumberRoute = defineRoute({
  operationId: 'openTypedCertificateNumber',
  method: 'get',
  path: '/c',
  security: publicAccess,
  tags: ['Consumer pages'],
  summary: 'The lookup form’s certificate number: to its certificate’s page (public)',
  description:
    'The one certificate with that number: to its page. None: the page of a number not in the registry. Several issuers: the lookup page says to scan the certificate’s QR code.',
  request: { query: z.object({ number: pageParam, lang: pageParam }) },
  responses: {
    200: { description: 'No certificate, or several, with that number', content: htmlContent },
    302: { description: 'To `/c/{id}` (to `/verify` when nothing was typed)' },
    ...pageRateLimited,
  },
});

const wantsJson = (c: Context) => prefersJson(c.req.header('accept'));

/** A page's language asked for in its link, carried on to where it leads (`?lang=…`, or nothing). */
const langQuery = (lang: string | undefined) =>
  lang === 'en' || lang === 'zh' ? `?lang=${lang}` : '';

async function sendPage(
  c: Context,
  status: 200 | 422,
  lang: Lang,
  render: (nonce: string) => HtmlEscapedString | Promise<HtmlEscapedString>,
) {
  const nonce = newNonce();
  return c.html(await render(nonce), status, {
    ...pageHeaders(nonce, lang),
    vary: 'Accept, Accept-Language',
  });
}

/** A coordinate given as a decimal number within ±`limit`; blank, `0x…`, `Infinity` are not. */
function decimalWithin(text: string | undefined, limit: number): number | undefined {
  if (text === undefined || !/^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(text))
    return undefined;
  const value = Number(text);
  return Math.abs(value) <= limit ? value : undefined;
}

/** Where the scanning app says it is (optional query parameters); anything invalid is ignored. */
function locationOf(query: z.infer<typeof pageQuery>): VerifyMarkRequest['location'] {
  const region = query.region && isValidRegionCode(query.region) ? query.region : undefined;
  const lat = decimalWithin(query.lat, 90);
  const lon = decimalWithin(query.lon, 180);
  const point = lat !== undefined && lon !== undefined ? { lat, lon } : {};
  return region || 'lat' in point ? { region, ...point } : undefined;
}

/**
 * Whether a request for a mark's page is someone looking at it: then it counts toward the scan
 * count and the clone thresholds. Otherwise it is answered as GET would be, but as a repeat view
 * (logged, neither counted nor alerted):
 * - HEAD, a safe method (RFC 9110 §9.2.1) that link previewers and uptime checks send (21 HEADs
 *   used to flag a genuine mark as cloned);
 * - a prefetch or prerender (`Sec-Purpose`, or the older `Purpose`), which nobody may ever see;
 * - what a browser loads as part of another page (Fetch Metadata `Sec-Fetch-Dest` other than
 *   `document`: an image, a script, a fetch): a page on any site could otherwise make each of its
 *   visitors' browsers scan a mark whose code it holds, and flag it as cloned (an outside probe:
 *   five image tags and a prefetch on a page opened twice counted twelve scans).
 * A client that sends no Fetch Metadata (an app, a script, an older browser) is counted as before;
 * an integration in a browser verifies by `POST /v1/verify/mark`.
 */
function countsAsScan(c: Context): boolean {
  if (c.req.method === 'HEAD') return false;
  const purpose = `${c.req.header('sec-purpose') ?? ''} ${c.req.header('purpose') ?? ''}`;
  if (/\b(prefetch|prerender)\b/i.test(purpose)) return false;
  const destination = c.req.header('sec-fetch-dest');
  return destination === undefined || destination.trim().toLowerCase() === 'document';
}

/**
 * Whether a request for a mark's page came from no other site: opened from outside a browser (a
 * scanning app, a typed or pasted link: `Sec-Fetch-Site: none`), from this service's own pages, or
 * from a client that sends no Fetch Metadata. Only then is the place in its query (what a scanning
 * app says of where it is) taken for clone detection: a link on another site could otherwise send
 * each of its visitors with a place of its choosing, and three such visits "from three provinces"
 * flagged a genuine mark as cloned (an outside probe). The visit still counts; its place is unknown.
 */
function sameSiteOrOpened(c: Context): boolean {
  const site = c.req.header('sec-fetch-site')?.trim().toLowerCase();
  return site === undefined || site === 'none' || site === 'same-origin';
}

/** The consumer pages: `/m/{code}` (and `/M/{code}`) for marks, `/c/{id}` for certificates. */
export function webRoutes(deps: WebRoutesDeps) {
  // A link's query is never a reason to refuse its page (see createRouter's lenientQuery).
  const router = createRouter({ lenientQuery: true });
  for (const prefix of ['m', 'M'] as const) {
    router.openapi(markPageRoute(prefix), async (c) => {
      const { code } = c.req.valid('param');
      const query = c.req.valid('query');
      const lang = pickLang(query.lang, c.req.header('accept-language'));
      const now = deps.clock.now();
      const { secret, windowMs, secureCookie } = deps.repeatViews;
      const views = RepeatViews.read(secret, windowMs, getCookie(c, REPEAT_VIEWS_COOKIE));
      const uncounted = !countsAsScan(c);
      try {
        const answer = await deps.markVerification.verifyMark(
          { code, location: sameSiteOrOpened(c) ? locationOf(query) : undefined },
          {
            role: c.get('principal')?.role ?? null,
            channel: 'page',
            repeatView: uncounted
              ? () => true
              : windowMs > 0
                ? (serial) => views.seen(serial, now)
                : undefined,
          },
        );
        const serial = answer.mark?.serial;
        if (!uncounted && windowMs > 0 && serial && !views.seen(serial, now)) {
          setCookie(c, REPEAT_VIEWS_COOKIE, views.with(serial, now).serialize(), {
            path: '/',
            httpOnly: true,
            secure: secureCookie,
            sameSite: 'Lax',
            maxAge: Math.ceil(windowMs / 1000),
          });
        }
        if (wantsJson(c)) return c.json(answer, 200);
        return sendPage(c, 200, lang, (nonce) => markPage(answer, { lang, code, nonce }));
      } catch (error) {
        if (error instanceof AppError && error.code === 'serial_check_failed' && !wantsJson(c)) {
          return sendPage(c, 422, lang, (nonce) => serialTypoPage({ lang, nonce }));
        }
        throw error;
      }
    });
  }
  router.openapi(lookupPageRoute, async (c) => {
    const lang = pickLang(c.req.valid('query').lang, c.req.header('accept-language'));
    return sendPage(c, 200, lang, (nonce) => lookupPage({ lang, nonce }));
  });
  router.openapi(rootRoute, async (c) =>
    c.redirect(`/verify${langQuery(c.req.valid('query').lang)}`, 302),
  );
  router.openapi(typedMarkRoute, async (c) => {
    const { code, lang } = c.req.valid('query');
    const suffix = langQuery(lang);
    const typed = code?.trim();
    return c.redirect(typed ? `/m/${encodeURIComponent(typed)}${suffix}` : `/verify${suffix}`, 302);
  });
  router.openapi(typedNumberRoute, async (c) => {
    const query = c.req.valid('query');
    const lang = pickLang(query.lang, c.req.header('accept-language'));
    const suffix = langQuery(query.lang);
    const number = query.number?.trim();
    if (!number) return c.redirect(`/verify${suffix}`, 302);
    const ids = await deps.certificates.idsByNumber(number);
    if (ids.length === 1) return c.redirect(`/c/${ids[0]}${suffix}`, 302);
    if (ids.length > 1)
      return sendPage(c, 200, lang, (nonce) => lookupPage({ lang, nonce, several: number }));
    // None: what verification by that number answers (not in the registry), on the page.
    const answer = await deps.verification.verifyCertificate({ number });
    return sendPage(c, 200, lang, (nonce) =>
      certificatePage(answer, { lang, nonce, reportAbout: {} }),
    );
  });
  router.openapi(offlinePageRoute, async (c) => {
    const lang = pickLang(c.req.valid('query').lang, c.req.header('accept-language'));
    const [bundle, verifier] = await Promise.all([deps.offlineBundle(), offlineVerifierBundle()]);
    return sendPage(c, 200, lang, (nonce) =>
      offlinePage({
        lang,
        nonce,
        bundle: bundle.jws,
        keyCount: bundle.keyCount,
        bundleAsOf: bundle.createdAt.toISOString(),
        verifier,
      }),
    );
  });
  router.openapi(certificatePageRoute, async (c) => {
    const { id } = c.req.valid('param');
    // A certificate's number typed where its link's id goes: to the link of the one certificate
    // that has it (it was answered "forged": an outside walkthrough). A number several issuers
    // hold, or none, is no link, as anything else that is not an id.
    if (!isUuid(id)) {
      const ids = await deps.certificates.idsByNumber(id);
      if (ids.length === 1) {
        const query = new URL(c.req.url).search;
        return c.redirect(`/c/${ids[0]}${query}`, 302);
      }
    }
    const lang = pickLang(c.req.valid('query').lang, c.req.header('accept-language'));
    const answer = await certificateAnswer(deps, id);
    if (wantsJson(c)) return c.json(answer, 200);
    // By id, known or not (an id is exact where a number may be shared); a link with no id at all
    // is reported in words alone.
    const reportAbout = isUuid(id) ? { certificateId: id.toLowerCase() } : {};
    return sendPage(c, 200, lang, (nonce) => certificatePage(answer, { lang, nonce, reportAbout }));
  });
  return router;
}

/** The certificate's verdict: its own stored credential verified in full, as anyone would. */
async function certificateAnswer(
  deps: WebRoutesDeps,
  id: string,
): Promise<CertificateVerification> {
  const checkedAt = deps.clock.now().toISOString();
  if (!isUuid(id)) {
    return pageVerdict(deps, [reason('MALFORMED', 'not a certificate link')], checkedAt);
  }
  const issued = await deps.certificates
    .getCertificate(id.toLowerCase())
    .catch((error: unknown) => {
      if (error instanceof AppError && error.code === 'not_found') return undefined;
      throw error;
    });
  if (!issued) {
    return pageVerdict(
      deps,
      [reason('NOT_IN_REGISTRY', 'no such certificate in the registry')],
      checkedAt,
    );
  }
  // Its key withdrawn as compromised, its credential not yet signed again (a large issuer's take a
  // while): the registry's own record is judged, as by its number, rather than answered forged.
  if (await deps.certificates.awaitsSigningAgain(issued.credential)) {
    return deps.verification.verifyCertificate({
      number: issued.number,
      issuerId: issued.issuer.id,
    });
  }
  return deps.verification.verifyCertificate({ credential: issued.credential });
}

function pageVerdict(
  deps: WebRoutesDeps,
  reasons: Reason[],
  checkedAt: string,
): CertificateVerification {
  const verdict = verdictOf(reasons);
  deps.onVerdict?.('certificate', verdict, reasons);
  return { verdict, reasons, checkedAt };
}
