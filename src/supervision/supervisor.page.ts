import { Hono, type Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import type { AuditService } from '../audit/audit.service';
import { findPrincipalByKey } from '../auth/auth.middleware';
import type { PageSessions } from '../auth/page-sessions';
import { formToken, isFormToken, newFormNonce } from '../auth/session';
import type { Clock } from '../clock';
import type { Principal } from '../auth/principal';
import type { Database } from '../db/client';
import { alertSeverities, type AlertSeverity, type AlertStatus } from '../db/schema/alerts';
import type { AppEnv } from '../http/env';
import type { IssuersService } from '../issuers/issuers.service';
import type { AlertSummaryRow } from './alerts.queries';
import { alertReasons, type AlertsService, type AlertView } from './alerts.service';
import type { MarksService } from '../marks/marks.service';
import type { RecentScan } from '../marks/scan-log.queries';
import { chinaTime } from '../shared/dates';
import { isUuid } from '../shared/identifiers';
import { provinces, regionName } from '../shared/provinces';
import { pickLang, type Lang } from '../web/i18n';
import { newNonce, pageHeaders, shell } from '../web/layout';

/**
 * The supervisor's page (GET /supervisor): open alerts by severity, with filters, each alert's
 * details and history, and a summary by region and reason. Server-rendered, read-only, no script.
 *
 * Authentication: `Authorization: Bearer <supervisor key>`, or the sign-in form, which POSTs the
 * key once to /supervisor/session and gets an HttpOnly, SameSite=Strict cookie scoped to
 * /supervisor. The cookie names a session record (never the key itself); signing out
 * (POST /supervisor/sign-out) ends the record, and revoking the key ends every session it opened.
 * Both forms carry a signed double-submit token and are refused from another origin (login CSRF).
 */
export const SUPERVISOR_COOKIE = 'certmark_supervisor';
/** The nonce cookie of the page's forms (see src/auth/session.ts, signed double-submit). */
export const SUPERVISOR_FORM_COOKIE = 'certmark_supervisor_form';
const SESSION_SECONDS = 8 * 3600;
/** Alerts shown at once; the API pages through the rest. */
const PAGE_ALERTS = 300;
/** A mark alert shows its latest checks (the rest: GET /v1/marks/{serial}/scans). */
const RECENT_SCANS = 10;

export interface SupervisorPageDeps {
  db: Database;
  alerts: AlertsService;
  audit: AuditService;
  marks: MarksService;
  issuers: IssuersService;
  clock: Clock;
  sessions: PageSessions;
  /** HMAC key for the forms' tokens (see src/auth/session.ts). */
  sessionSecret: Uint8Array;
  /** PUBLIC_BASE_URL: a form POST must come from this origin (or the request's own). */
  publicBaseUrl: string;
}

const severityLabels: Record<AlertSeverity, string> = {
  forged: '伪造 Forged',
  misused: '冒用 Misused',
  suspicious: '可疑 Suspicious',
};

const STYLE = `
  :root { color-scheme: light; --forged: #b42318; --misused: #b54708; --suspicious: #175cd3; --line: #d0d5dd; }
  header { background: #101828; color: #fff; padding: 12px 24px; display: flex; justify-content: space-between; align-items: center; }
  header a { color: #d0d5dd; } header form { margin: 0; } button.sign-out { background: #344054; }
  h1 { font-size: 20px; margin: 0; } h2 { font-size: 18px; margin: 24px 0 8px; }
  form.filters { display: flex; gap: 12px; flex-wrap: wrap; align-items: end; background: #fff; padding: 12px; border: 1px solid var(--line); border-radius: 8px; }
  label { display: flex; flex-direction: column; font-size: 13px; color: #475467; gap: 2px; }
  select, input, button { font: inherit; padding: 4px 8px; }
  button { background: #101828; color: #fff; border: 0; border-radius: 6px; padding: 6px 14px; cursor: pointer; }
  table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
  th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
  th { background: #f2f4f7; font-size: 13px; }
  td.time { white-space: nowrap; }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
  section.severity { border-left: 6px solid; padding-left: 12px; margin-top: 20px; }
  section.forged { border-color: var(--forged); } section.misused { border-color: var(--misused); } section.suspicious { border-color: var(--suspicious); }
  section.forged h2 { color: var(--forged); } section.misused h2 { color: var(--misused); } section.suspicious h2 { color: var(--suspicious); }
  code { font-size: 12px; word-break: break-all; }
  details summary { cursor: pointer; color: #175cd3; }
  details dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 8px 0; }
  details dt { color: #475467; } details dd { margin: 0; }
  pre { white-space: pre-wrap; word-break: break-all; background: #f2f4f7; padding: 6px; margin: 0; font-size: 12px; }
  .status-resolved { color: #067647; } .muted { color: #667085; }
`;

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

/** The page's forms send this hidden field; it must match the browser's form cookie. */
const FORM_FIELD = 'form_token';

function layout(
  view: { lang: Lang; nonce: string },
  title: string,
  body: Html,
  signedIn: { formToken: string } | null,
): Html {
  return shell({
    lang: view.lang,
    nonce: view.nonce,
    title,
    wide: true,
    styles: STYLE,
    body: html`<header>
        <h1>certmark · 市场监管 Supervision</h1>
        ${
          signedIn
            ? html`<form method="post" action="/supervisor/sign-out">
                <input type="hidden" name="${FORM_FIELD}" value="${signedIn.formToken}" />
                <button type="submit" class="sign-out">Sign out</button>
              </form>`
            : ''
        }
      </header>
      ${body}`,
  });
}

function signInPage(view: { lang: Lang; nonce: string }, message: string, token: string): Html {
  return layout(
    view,
    'certmark supervision — sign in',
    html`<p>${message}</p>
      <form method="post" action="/supervisor/session" class="filters">
        <input type="hidden" name="${FORM_FIELD}" value="${token}" />
        <label
          >Supervisor API key
          <input type="password" name="key" autocomplete="off" required size="50"
        /></label>
        <button type="submit">Sign in</button>
      </form>`,
    null,
  );
}

function isHttps(c: Context): boolean {
  return new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';
}

interface PageFilters {
  status: AlertStatus | undefined;
  reason: string | undefined;
  issuer: string | undefined;
}

/** Filters from the query string; anything unknown is ignored rather than refused on a page. */
function filtersOf(c: Context): PageFilters & { statusChoice: string } {
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

function option(value: string, label: string, selected: boolean): Html {
  return selected
    ? html`<option value="${value}" selected>${label}</option>`
    : html`<option value="${value}">${label}</option>`;
}

/** A region with its province's name; supervisors compare them to the second. */
const regionLabel = (region: string, lang: Lang) => regionName(region, lang) ?? region;
const timeOf = (at: string | Date, lang: Lang) => chinaTime(at, lang, { seconds: true });

function json(value: unknown): string {
  return JSON.stringify(value, null, 1);
}

/**
 * The form nonce of this browser: the cookie's if it has a well-formed one, else a new one set now.
 * Returns the token the page's forms carry.
 */
function pageFormToken(c: Context, secret: Uint8Array): string {
  let nonce = getCookie(c, SUPERVISOR_FORM_COOKIE);
  if (!nonce || !/^[A-Za-z0-9_-]{43}$/.test(nonce)) {
    nonce = newFormNonce();
    setCookie(c, SUPERVISOR_FORM_COOKIE, nonce, {
      httpOnly: true,
      sameSite: 'Strict',
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
  const origin = c.req.header('origin');
  if (origin !== undefined && origin !== 'null') {
    const own = [new URL(c.req.url).origin, new URL(deps.publicBaseUrl).origin];
    if (!own.includes(origin)) return false;
  } else {
    const site = c.req.header('sec-fetch-site');
    if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  }
  return isFormToken(deps.sessionSecret, getCookie(c, SUPERVISOR_FORM_COOKIE), form[FORM_FIELD]);
}

/** The page's language (`?lang=`, else the browser's preference, else Chinese) and CSP nonce. */
function viewOf(c: Context): { lang: Lang; nonce: string } {
  return {
    lang: pickLang(c.req.query('lang'), c.req.header('accept-language')),
    nonce: newNonce(),
  };
}

const readForm = (c: Context) =>
  c.req.parseBody().catch(() => ({}) as Record<string, unknown>) as Promise<
    Record<string, unknown>
  >;

export function supervisorPage(deps: SupervisorPageDeps) {
  const page = new Hono<AppEnv>();
  const signIn = (c: Context, message: string, status: 200 | 401 | 403) => {
    const view = viewOf(c);
    return c.html(
      signInPage(view, message, pageFormToken(c, deps.sessionSecret)),
      status,
      pageHeaders(view.nonce, view.lang),
    );
  };

  page.get('/supervisor', async function supervisorPageHandler(c) {
    let principal: Principal | null = c.get('principal');
    if (!principal) {
      const token = getCookie(c, SUPERVISOR_COOKIE);
      if (token) principal = await deps.sessions.principalOf(token);
      if (token && !principal) deleteCookie(c, SUPERVISOR_COOKIE, { path: '/supervisor' });
    }
    if (!principal) return signIn(c, 'Sign in with a supervisor API key.', 401);
    if (principal.role !== 'supervisor') return signIn(c, 'This page is for supervisor keys.', 403);

    const token = pageFormToken(c, deps.sessionSecret);
    const view = viewOf(c);
    return c.html(
      await renderDashboard(deps, principal, view, filtersOf(c), token),
      200,
      pageHeaders(view.nonce, view.lang),
    );
  });

  page.post('/supervisor/session', async function signInHandler(c) {
    const form = await readForm(c);
    if (!isOwnForm(c, deps, form))
      return signIn(
        c,
        'This sign-in form has expired or came from another site: sign in here.',
        403,
      );
    const key = typeof form.key === 'string' ? form.key.trim() : '';
    const principal = key ? await findPrincipalByKey(deps.db, key) : null;
    if (!principal) return signIn(c, 'Unknown or revoked API key.', 401);
    if (principal.role !== 'supervisor') return signIn(c, 'This page is for supervisor keys.', 403);
    const session = await deps.sessions.start(principal, SESSION_SECONDS);
    setCookie(c, SUPERVISOR_COOKIE, session.token, {
      httpOnly: true,
      sameSite: 'Strict',
      secure: isHttps(c),
      path: '/supervisor',
      maxAge: SESSION_SECONDS,
    });
    const view = viewOf(c);
    for (const [name, value] of Object.entries(pageHeaders(view.nonce, view.lang)))
      c.header(name, value);
    return c.redirect('/supervisor', 303);
  });

  page.post('/supervisor/sign-out', async function signOutHandler(c) {
    const form = await readForm(c);
    // A cross-site POST must not sign a supervisor out either.
    if (!isOwnForm(c, deps, form))
      return signIn(c, 'This form has expired or came from another site.', 403);
    const token = getCookie(c, SUPERVISOR_COOKIE);
    if (token) await deps.sessions.end(token);
    deleteCookie(c, SUPERVISOR_COOKIE, { path: '/supervisor' });
    return signIn(c, 'Signed out.', 200);
  });

  return page;
}

async function renderDashboard(
  deps: SupervisorPageDeps,
  principal: Principal,
  view: { lang: Lang; nonce: string },
  filters: PageFilters & { statusChoice: string },
  formToken: string,
): Promise<Html> {
  const { lang } = view;
  const [list, summary, issuers] = await Promise.all([
    deps.alerts.listAlerts({ ...filters, page: 1, pageSize: PAGE_ALERTS }),
    deps.alerts.summary(filters),
    deps.issuers.listIssuers(),
  ]);
  const ids = list.items.map((a) => a.id);
  const markSerials = new Set(
    list.items
      .filter((a) => a.subjectType === 'mark' && /^\d{16}$/.test(a.subject))
      .map((a) => a.subject),
  );
  const [reports, history, scans] = await Promise.all([
    deps.alerts.reportsOf(ids),
    deps.audit.historyOf('alert', ids),
    deps.marks.recentScans(principal, [...markSerials], RECENT_SCANS),
  ]);
  const issuerNames = new Map(issuers.map((i) => [i.id, i.name]));

  const filterForm = html`<form
      method="get"
      action="/supervisor"
      class="filters"
      aria-label="Filters"
    >
      <label
        >Status
        <select name="status">
          ${option('open', 'Open', filters.statusChoice === 'open')}
          ${option('resolved', 'Resolved', filters.statusChoice === 'resolved')}
          ${option('all', 'All', filters.statusChoice === 'all')}
        </select></label
      >
      <label
        >Reason
        <select name="reason">
          ${option('', 'Any reason', !filters.reason)}
          ${alertReasons.map((r) => option(r, r, filters.reason === r))}
        </select></label
      >
      <label
        >Issuer
        <select name="issuer">
          ${option('', 'Any issuer', !filters.issuer)}
          ${issuers.map((i) => option(i.id, i.name, filters.issuer === i.id))}
        </select></label
      >
      <button type="submit">Filter</button>
    </form>
    <p class="muted">
      ${list.total}
      alert(s)${list.total > list.items.length ? `, the ${list.items.length} most severe and recent shown` : ''}.
    </p>`;

  const sections = alertSeverities.map((severity) => {
    const items = list.items.filter((a) => a.severity === severity);
    return html`<section
      class="severity ${severity}"
      id="severity-${severity}"
      data-severity="${severity}"
    >
      <h2>${severityLabels[severity]} <span class="muted">(${items.length})</span></h2>
      ${
        items.length === 0
          ? html`<p class="muted">None.</p>`
          : html`<table>
              <thead>
                <tr>
                  <th>Reason</th>
                  <th>Subject</th>
                  <th class="num">Count</th>
                  <th>First seen</th>
                  <th>Last seen</th>
                  <th>Regions</th>
                  <th>Issuer</th>
                  <th>Status</th>
                </tr>
              </thead>
              <tbody>
                ${items.map((a) =>
                  alertRows(
                    a,
                    issuerNames,
                    reports.filter((r) => r.alertId === a.id),
                    history.filter((h) => h.subjectId === a.id),
                    a.subjectType === 'mark' ? scans.filter((x) => x.serial === a.subject) : [],
                    lang,
                  ),
                )}
              </tbody>
            </table>`
      }
    </section>`;
  });

  return layout(
    view,
    'certmark supervision',
    html`${filterForm}${sections}
      <h2>By region and reason 按地区和原因</h2>
      ${summaryTable(summary, lang)}`,
    { formToken },
  );
}

function alertRows(
  a: AlertView,
  issuerNames: Map<string, string>,
  reports: Awaited<ReturnType<AlertsService['reportsOf']>>,
  history: Awaited<ReturnType<AuditService['historyOf']>>,
  scans: RecentScan[],
  lang: Lang,
): Html {
  const issuer = a.issuerId ? (issuerNames.get(a.issuerId) ?? a.issuerId) : '—';
  return html`<tr class="alert" data-alert-id="${a.id}" data-reason="${a.reason}">
      <td><strong>${a.reason}</strong></td>
      <td><span class="muted">${a.subjectType}</span> <code>${a.subject}</code></td>
      <td class="num">${a.count}</td>
      <td class="time">${timeOf(a.firstSeen, lang)}</td>
      <td class="time">${timeOf(a.lastSeen, lang)}</td>
      <td>${a.regions.length ? a.regions.map((r) => regionLabel(r, lang)).join(', ') : '—'}</td>
      <td>${issuer}</td>
      <td class="status-${a.status}">${a.status}</td>
    </tr>
    <tr>
      <td colspan="8">
        <details>
          <summary>Details and history</summary>
          <dl>
            <dt>Alert id</dt>
            <dd><code>${a.id}</code></dd>
            <dt>Certificate</dt>
            <dd>${a.certificateId ? html`<code>${a.certificateId}</code>` : '—'}</dd>
            <dt>Raised by</dt>
            <dd>${a.raisedBy.channel} · verdict ${a.raisedBy.verdict}</dd>
            <dt>Findings</dt>
            <dd>
              ${a.raisedBy.reasons.map((r) => html`<div><strong>${r.code}</strong> ${r.message}</div>`)}
            </dd>
            <dt>Context</dt>
            <dd>${a.raisedBy.context ? html`<pre>${json(a.raisedBy.context)}</pre>` : '—'}</dd>
            ${
              a.lastSeenBy
                ? html`<dt>Latest repeat</dt>
                    <dd>
                      ${a.lastSeenBy.channel}${a.lastSeenBy.context ? html`<pre>${json(a.lastSeenBy.context)}</pre>` : ''}
                    </dd>`
                : ''
            }
            ${
              a.resolution
                ? html`<dt>Resolved</dt>
                    <dd>${timeOf(a.resolution.at, lang)}: ${a.resolution.note}</dd>`
                : ''
            }
            ${
              reports.length
                ? html`<dt>Reports</dt>
                    <dd>
                      ${reports.map(
                        (r) =>
                          html`<div>
                            ${timeOf(r.createdAt, lang)}
                            ${r.region ? regionLabel(r.region, lang) : ''}:
                            ${r.description}${r.contact ? html` <span class="muted">(contact: ${r.contact})</span>` : ''}
                          </div>`,
                      )}
                    </dd>`
                : ''
            }
            ${
              scans.length
                ? html`<dt>Latest checks 最近查验</dt>
                    <dd class="scans">
                      ${scans.map((x) => html`<div>${scanLine(x, lang)}</div>`)}
                      <div class="muted">
                        All of them: <code>GET /v1/marks/${a.subject}/scans</code>
                      </div>
                    </dd>`
                : ''
            }
            <dt>Audit history</dt>
            <dd>
              ${
                history.length
                  ? history.map(
                      (h) =>
                        html`<div>
                          #${h.seq ?? '—'} ${timeOf(h.at, lang)} <strong>${h.action}</strong> by
                          ${h.actorRole ?? '—'}
                        </div>`,
                    )
                  : '—'
              }
            </dd>
          </dl>
        </details>
      </td>
    </tr>`;
}

/** One check of a mark: when, where (region, coordinates), through which channel, with what verdict. */
function scanLine(scan: RecentScan, lang: Lang): Html {
  const where = scan.region
    ? regionLabel(scan.region, lang)
    : html`<span class="muted">no region</span>`;
  const point =
    scan.lat !== null && scan.lon !== null
      ? ` · ${scan.lat.toFixed(3)}, ${scan.lon.toFixed(3)}`
      : '';
  return html`${timeOf(scan.at, lang)} · ${where}${point} · ${scan.channel} · ${scan.verdict}`;
}

function summaryTable(rows: AlertSummaryRow[], lang: Lang): Html {
  if (rows.length === 0) return html`<p class="muted">No alerts.</p>`;
  const reasons = [...new Set(rows.map((r) => r.reason))].sort();
  const seen = [...new Set(rows.map((r) => r.province ?? ''))].sort((a, b) =>
    a === '' ? 1 : b === '' ? -1 : a < b ? -1 : 1,
  );
  const cell = (province: string, reason: string) =>
    rows.find((r) => (r.province ?? '') === province && r.reason === reason);
  return html`<table id="summary">
      <thead>
        <tr>
          <th>Region</th>
          ${reasons.map((r) => html`<th class="num">${r}</th>`)}
          <th class="num">Alerts</th>
        </tr>
      </thead>
      <tbody>
        ${seen.map((p) => {
          const total = rows
            .filter((r) => (r.province ?? '') === p)
            .reduce((n, r) => n + r.alerts, 0);
          return html`<tr>
            <td>${p ? `${p} ${provinces[p]?.[lang] ?? ''}` : 'Unknown region'}</td>
            ${reasons.map((reason) => {
              const found = cell(p, reason);
              return html`<td class="num">
                ${found ? html`${found.alerts} <span class="muted" title="findings">(${found.findings})</span>` : ''}
              </td>`;
            })}
            <td class="num">${total}</td>
          </tr>`;
        })}
      </tbody>
    </table>
    <p class="muted">
      Cells: alerts (findings). An alert seen in several provinces counts in each.
    </p>`;
}
