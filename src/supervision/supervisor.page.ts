import { Hono, type Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { findPrincipalByKey } from '../auth/auth.middleware';
import type { PageSessions } from '../auth/page-sessions';
import { formToken, isFormToken, newFormNonce } from '../auth/session';
import type { Principal } from '../auth/principal';
import type { Database } from '../db/client';
import type { AlertStatus } from '../db/schema/alerts';
import type { AppEnv } from '../http/env';
import { isUuid } from '../shared/identifiers';
import { pickLang } from '../web/i18n';
import { browserBundle } from '../web/browser-bundle';
import { newNonce, pageHeaders } from '../web/layout';
import { alertReasons } from './alerts.service';
import type { ConsoleFilters, SupervisorConsole } from './console/console.service';
import {
  CONSOLE_SCRIPT,
  consolePage,
  FORM_FIELD,
  signInPage,
  type ConsoleView,
} from './console/console.view';
import { consoleWords } from './console/console-words';

/**
 * The supervisor console (GET /supervisor): a map of China's provinces shaded by alerts, the daily
 * trend of alerts and mark checks, each suspected clone's checks on a map, then the alerts by
 * severity with filters, details and history, and a summary by region and reason. Chinese by
 * default, English with `?lang=en` or the browser's preference, on the consumer pages' shell and
 * security headers (src/web/layout.ts). The charts are drawn by a script this service bundles with
 * ECharts and the province geometry (GET /supervisor/assets/console.js), so the page needs no
 * other host.
 *
 * Authentication: `Authorization: Bearer <supervisor key>`, or the sign-in form, which POSTs the
 * key once to /supervisor/session and gets an HttpOnly, SameSite=Strict cookie scoped to
 * /supervisor. The cookie names a session record (never the key itself); signing out
 * (POST /supervisor/sign-out) ends the record, and revoking the key ends every session it opened.
 * Both forms are refused from another origin; signing in also takes a signed double-submit token
 * (login CSRF), and ends the session the browser had.
 */
export const SUPERVISOR_COOKIE = 'certmark_supervisor';
/** The nonce cookie of the page's forms (see src/auth/session.ts, signed double-submit). */
export const SUPERVISOR_FORM_COOKIE = 'certmark_supervisor_form';
const SESSION_SECONDS = 8 * 3600;

export interface SupervisorPageDeps {
  db: Database;
  console: SupervisorConsole;
  sessions: PageSessions;
  /** HMAC key for the forms' tokens (see src/auth/session.ts). */
  sessionSecret: Uint8Array;
  /** PUBLIC_BASE_URL: a form POST must come from this origin (or the request's own). */
  publicBaseUrl: string;
}

function isHttps(c: Context): boolean {
  return new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';
}

/** Filters from the query string; anything unknown is ignored rather than refused on a page. */
function filtersOf(c: Context): ConsoleFilters & { statusChoice: string } {
  const status = c.req.query('status');
  const reason = c.req.query('reason');
  const issuer = c.req.query('issuer');
  const statusChoice = status === 'resolved' || status === 'all' ? status : 'open';
  return {
    statusChoice,
    status: statusChoice === 'all' ? undefined : (statusChoice as AlertStatus),
    reason: reason && alertReasons.includes(reason) ? reason : undefined,
    issuer: issuer && isUuid(issuer) ? issuer.toLowerCase() : undefined,
  };
}

/**
 * The form nonce of this browser: the cookie's if it has a well-formed one, else a new one set now.
 * Returns the token the page's forms carry. The cookie is SameSite=Lax: a link from another site
 * to /supervisor (a top-level navigation) carries it, so the page keeps it rather than setting a
 * new one under a tab already open (whose forms then failed: an outside probe); a POST from
 * another site still goes without it, which is what the double submit needs.
 */
function pageFormToken(c: Context, secret: Uint8Array): string {
  let nonce = getCookie(c, SUPERVISOR_FORM_COOKIE);
  if (!nonce || !/^[A-Za-z0-9_-]{43}$/.test(nonce)) {
    nonce = newFormNonce();
    setCookie(c, SUPERVISOR_FORM_COOKIE, nonce, {
      httpOnly: true,
      sameSite: 'Lax',
      secure: isHttps(c),
      path: '/supervisor',
    });
  }
  return formToken(secret, nonce);
}

/**
 * Whether a form POST comes from this service's own page: an `Origin` (or, without one,
 * `Sec-Fetch-Site`) naming this origin, and the signed double-submit token of the browser's cookie.
 * Under this page's `Referrer-Policy: no-referrer` browsers send `Origin: null`, which says
 * nothing: then `Sec-Fetch-Site` and the token decide.
 */
function isOwnForm(c: Context, deps: SupervisorPageDeps, form: Record<string, unknown>): boolean {
  return originOf(c, deps) !== 'other' && hasFormToken(c, deps, form);
}

/**
 * Whether a sign-out comes from this service's page: its origin says so, or, when the headers say
 * nothing (`Origin: null` from a browser that sends no `Sec-Fetch-Site`), the form's token does.
 * The session cookie is Strict, so no other site's POST can end a session; this keeps one from
 * deleting the cookie in the browser either.
 */
function isOwnSignOut(
  c: Context,
  deps: SupervisorPageDeps,
  form: Record<string, unknown>,
): boolean {
  const origin = originOf(c, deps);
  return origin === 'own' || (origin === 'unknown' && hasFormToken(c, deps, form));
}

const hasFormToken = (c: Context, deps: SupervisorPageDeps, form: Record<string, unknown>) =>
  isFormToken(deps.sessionSecret, getCookie(c, SUPERVISOR_FORM_COOKIE), form[FORM_FIELD]);

/** Which origin a POST names: this service's, another, or none it tells (`Origin: null`, no fetch metadata). */
function originOf(c: Context, deps: SupervisorPageDeps): 'own' | 'other' | 'unknown' {
  const origin = c.req.header('origin');
  if (origin !== undefined && origin !== 'null') {
    const own = [new URL(c.req.url).origin, new URL(deps.publicBaseUrl).origin];
    return own.includes(origin) ? 'own' : 'other';
  }
  const site = c.req.header('sec-fetch-site');
  if (site === undefined) return 'unknown';
  return site === 'same-origin' || site === 'none' ? 'own' : 'other';
}

/**
 * The page's language (`?lang=` or a form's `lang` field, else the browser's preference, else
 * Chinese) and CSP nonce.
 */
function viewOf(c: Context, form?: Record<string, unknown>): ConsoleView {
  const chosen = typeof form?.lang === 'string' ? form.lang : c.req.query('lang');
  return { lang: pickLang(chosen, c.req.header('accept-language')), nonce: newNonce() };
}

const readForm = (c: Context) =>
  c.req.parseBody().catch(() => ({}) as Record<string, unknown>) as Promise<
    Record<string, unknown>
  >;

/** What the sign-in page says (./console/console-words.ts). */
type Message = 'askSignIn' | 'notSupervisor' | 'unknownKey' | 'formExpired' | 'signedOut';

export function supervisorPage(deps: SupervisorPageDeps) {
  const page = new Hono<AppEnv>();
  const signIn = (
    c: Context,
    message: Message,
    status: 200 | 401 | 403,
    form?: Record<string, unknown>,
  ) => {
    const view = viewOf(c, form);
    // A 401 names its scheme (RFC 9110 §15.5.2): the page also takes a supervisor's bearer key.
    const challenge: Record<string, string> =
      status === 401 ? { 'www-authenticate': 'Bearer realm="certmark"' } : {};
    return c.html(
      signInPage(view, consoleWords[view.lang][message], pageFormToken(c, deps.sessionSecret)),
      status,
      { ...pageHeaders(view.nonce, view.lang), ...challenge },
    );
  };

  page.get('/supervisor', async function supervisorPageHandler(c) {
    let principal: Principal | null = c.get('principal');
    if (!principal) {
      const token = getCookie(c, SUPERVISOR_COOKIE);
      if (token) principal = await deps.sessions.principalOf(token);
      if (token && !principal) deleteCookie(c, SUPERVISOR_COOKIE, { path: '/supervisor' });
    }
    if (!principal) return signIn(c, 'askSignIn', 401);
    if (principal.role !== 'supervisor') return signIn(c, 'notSupervisor', 403);

    const token = pageFormToken(c, deps.sessionSecret);
    const view = viewOf(c);
    const filters = filtersOf(c);
    const overview = await deps.console.overview(principal, filters);
    const query = new URL(c.req.url).searchParams;
    return c.html(
      consolePage(view, { overview, filters, formToken: token, query }),
      200,
      pageHeaders(view.nonce, view.lang),
    );
  });

  // The console's charts: ECharts and the province geometry, bundled (src/web/browser-bundles.mjs).
  // No data in it, so it is the same for everyone and may be cached.
  page.get(CONSOLE_SCRIPT, async function consoleScriptHandler(c) {
    return c.body(await browserBundle('supervisor-console'), 200, {
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': 'public, max-age=3600',
      'x-content-type-options': 'nosniff',
    });
  });

  page.post('/supervisor/session', async function signInHandler(c) {
    const form = await readForm(c);
    if (!isOwnForm(c, deps, form)) return signIn(c, 'formExpired', 403, form);
    const key = typeof form.key === 'string' ? form.key.trim() : '';
    const principal = key ? await findPrincipalByKey(deps.db, key) : null;
    if (!principal) return signIn(c, 'unknownKey', 401, form);
    if (principal.role !== 'supervisor') return signIn(c, 'notSupervisor', 403, form);
    // The session this browser had, if any, ends: signing out later ends the one it has then, and
    // an earlier one left open would outlive it (for up to 8 hours).
    const previous = getCookie(c, SUPERVISOR_COOKIE);
    if (previous) await deps.sessions.end(previous);
    const session = await deps.sessions.start(principal, SESSION_SECONDS);
    setCookie(c, SUPERVISOR_COOKIE, session.token, {
      httpOnly: true,
      sameSite: 'Strict',
      secure: isHttps(c),
      path: '/supervisor',
      maxAge: SESSION_SECONDS,
    });
    const view = viewOf(c, form);
    for (const [name, value] of Object.entries(pageHeaders(view.nonce, view.lang)))
      c.header(name, value);
    return c.redirect(form.lang === 'en' ? '/supervisor?lang=en' : '/supervisor', 303);
  });

  page.post('/supervisor/sign-out', async function signOutHandler(c) {
    const form = await readForm(c);
    // A cross-site POST must not sign a supervisor out either: it names another origin, and it
    // never carries the session cookie (SameSite=Strict). The form's token is asked for only when
    // the headers tell no origin, so a form nonce replaced meanwhile (another tab's sign-in page)
    // cannot keep anyone signed in.
    if (!isOwnSignOut(c, deps, form)) return signIn(c, 'formExpired', 403, form);
    const token = getCookie(c, SUPERVISOR_COOKIE);
    if (token) await deps.sessions.end(token);
    deleteCookie(c, SUPERVISOR_COOKIE, { path: '/supervisor' });
    return signIn(c, 'signedOut', 200, form);
  });

  return page;
}
