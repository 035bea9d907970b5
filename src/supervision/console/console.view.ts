import { html, raw } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import { alertSeverities } from '../../db/schema/alerts';
import type { RecentScan } from '../../marks/scan-log.queries';
import { chinaTime } from '../../shared/dates';
import { provinceCodes, provinces, regionName } from '../../shared/provinces';
import type { Lang } from '../../web/i18n';
import { scriptJson, shell } from '../../web/layout';
import type { AlertSummaryRow } from '../alerts.queries';
import { alertReasons, type AlertReportView, type AlertView } from '../alerts.service';
import type { ConsoleData } from './console-data';
import type { ConsoleFilters, ConsoleOverview } from './console.service';
import { TREND_DAYS } from './console.service';
import { consoleWords, type ConsoleWords } from './console-words';

/**
 * The supervisor console's HTML: the map, the trend and the suspected clones first (drawn by the
 * bundled script at CONSOLE_SCRIPT from the page's `#console-data` block), then the alerts by
 * severity with their details, then the summary by region and reason. One column on a phone; the
 * alert tables become one card per alert below 48rem, so nothing is wider than the screen.
 */
type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

/** Where the page loads its charts from: this service (src/supervision/supervisor.page.ts). */
export const CONSOLE_SCRIPT = '/supervisor/assets/console.js';

/** The page's forms send this hidden field; it must match the browser's form cookie. */
export const FORM_FIELD = 'form_token';

export interface ConsoleView {
  lang: Lang;
  nonce: string;
}

const styles = `
:root{--forged:#b42318;--misused:#c2410c;--suspicious:#a16207;--line:#e4e7ec}
.console-head{display:flex;flex-wrap:wrap;gap:0.5rem;justify-content:space-between;align-items:center;background:#101828;color:#fff;border-radius:0.75rem;padding:0.75rem 1rem}
.console-head h1{font-size:1.25rem;margin:0}
.console-head form{margin:0}
.console-head button{width:auto;margin:0;background:#344054;padding:0.4rem 0.9rem}
form.filters{display:flex;flex-wrap:wrap;gap:0.5rem;align-items:flex-end}
form.filters label{margin:0;display:flex;flex-direction:column;flex:1 1 9rem;min-width:0;font-size:0.85rem;color:#57606a}
form.filters select{font:inherit;padding:0.4rem;width:100%;min-width:0}
form.filters button{width:auto;margin:0;padding:0.5rem 1.25rem}
form.sign-in input{width:100%;font:inherit;padding:0.5rem;border:1px solid #d0d7de;border-radius:0.5rem}
section.card h2{font-size:1.1rem}
.charts{display:grid;gap:0 0.75rem;grid-template-columns:minmax(0,1fr)}
@media (min-width:60rem){.charts{grid-template-columns:minmax(0,1fr) minmax(0,1fr)}}
.chart{width:100%;height:22rem}
.chart.clone{height:15rem}
.clones{display:grid;gap:0.75rem;grid-template-columns:repeat(auto-fill,minmax(min(100%,22rem),1fr))}
figure.clone{margin:0;border:1px solid var(--line);border-radius:0.5rem;padding:0.5rem}
figure.clone figcaption{font-weight:600}
ol.checks{margin:0.25rem 0 0;padding-left:1.5rem;font-size:0.85rem}
table{border-collapse:collapse;width:100%;font-size:0.9rem}
th,td{text-align:left;padding:0.35rem 0.5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{background:#f2f4f7;font-size:0.8rem}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.scroll{overflow-x:auto}
section.severity{border-left:6px solid}
section.forged{border-color:var(--forged)}section.misused{border-color:var(--misused)}section.suspicious{border-color:var(--suspicious)}
section.forged h2{color:var(--forged)}section.misused h2{color:var(--misused)}section.suspicious h2{color:var(--suspicious)}
code{font-size:0.8rem;word-break:break-all}
details summary{cursor:pointer;color:#0b57d0}
details dl{margin:0.5rem 0}
pre{white-space:pre-wrap;word-break:break-all;background:#f2f4f7;padding:0.35rem;margin:0;font-size:0.75rem}
.status-resolved{color:#067647}.muted{color:#667085}
@media (max-width:48rem){
table.alerts thead{display:none}
table.alerts,table.alerts tbody,table.alerts tr,table.alerts td{display:block}
table.alerts tr.alert{border-top:2px solid var(--line);padding-top:0.25rem}
table.alerts td,table.alerts td.num{border:0;padding:0.1rem 0;text-align:left}
table.alerts td[data-label]::before{content:attr(data-label) " · ";color:#57606a;font-size:0.8rem}
}
`;

const timeOf = (at: string | Date, lang: Lang) => chinaTime(at, lang, { seconds: true });
const regionLabel = (region: string, lang: Lang) => regionName(region, lang) ?? region;
const reasonLabel = (t: ConsoleWords, reason: string) => t.reasons[reason] ?? reason;

function option(value: string, label: string, selected: boolean): Html {
  return selected
    ? html`<option value="${value}" selected>${label}</option>`
    : html`<option value="${value}">${label}</option>`;
}

/** The page in the other language keeps the filters: the same query with `lang` changed. */
function langHrefOf(query: URLSearchParams) {
  return (lang: Lang) => {
    const next = new URLSearchParams(query);
    next.set('lang', lang);
    return `/supervisor?${next.toString()}`;
  };
}

function layout(
  view: ConsoleView,
  options: { title: string; body: Html; formToken?: string; query?: URLSearchParams },
): Html {
  const t = consoleWords[view.lang];
  return shell({
    lang: view.lang,
    nonce: view.nonce,
    title: options.title,
    wide: true,
    styles,
    langHref: langHrefOf(options.query ?? new URLSearchParams()),
    scriptSources: options.formToken ? [CONSOLE_SCRIPT] : [],
    body: html`<header class="console-head">
        <h1>certmark · ${t.title}</h1>
        ${
          options.formToken
            ? html`<form method="post" action="/supervisor/sign-out">
                <input type="hidden" name="${FORM_FIELD}" value="${options.formToken}" />
                <input type="hidden" name="lang" value="${view.lang}" />
                <button type="submit" class="sign-out">${t.signOut}</button>
              </form>`
            : ''
        }
      </header>
      ${options.body}`,
  });
}

/** The sign-in form: the key is POSTed once and never kept in the browser. */
export function signInPage(view: ConsoleView, message: string, formToken: string): Html {
  const t = consoleWords[view.lang];
  return layout(view, {
    title: t.signInTitle,
    body: html`<section class="card">
      <p id="message">${message}</p>
      <form method="post" action="/supervisor/session" class="sign-in">
        <input type="hidden" name="${FORM_FIELD}" value="${formToken}" />
        <input type="hidden" name="lang" value="${view.lang}" />
        <label for="key">${t.key}</label>
        <input type="password" id="key" name="key" autocomplete="off" required />
        <button type="submit">${t.signIn}</button>
      </form>
    </section>`,
  });
}

const total = (p: Record<'forged' | 'misused' | 'suspicious', number>) =>
  p.forged + p.misused + p.suspicious;

/** What the charts draw, in the page's language (./console-data.ts). */
function consoleData(overview: ConsoleOverview, lang: Lang): ConsoleData {
  const t = consoleWords[lang];
  return {
    lang,
    words: {
      ...t.severity,
      checks: t.checks,
      notAuthentic: t.notAuthentic,
      alertsAxis: t.alertsAxis,
      checksAxis: t.checksAxis,
      scanOrder: t.scanOrder,
    },
    // The most alerted first: the order the map's description (aria-label) reads them in.
    provinces: provinceCodes
      .map((code) => ({
        name: provinces[code]!.zh,
        label: provinces[code]![lang],
        ...(overview.byProvince.get(code) ?? { forged: 0, misused: 0, suspicious: 0 }),
      }))
      .sort((a, b) => total(b) - total(a)),
    trend: overview.trend,
    clones: overview.clones.map((clone) => ({
      serial: clone.serial,
      scans: clone.scans.map((s) => ({
        at: timeOf(s.at, lang),
        province: s.region ? s.region.slice(0, 2) : null,
        lat: s.lat,
        lon: s.lon,
      })),
    })),
  };
}

export function consolePage(
  view: ConsoleView,
  options: {
    overview: ConsoleOverview;
    filters: ConsoleFilters & { statusChoice: string };
    formToken: string;
    query: URLSearchParams;
  },
): Html {
  const { lang } = view;
  const t = consoleWords[lang];
  const { overview, filters } = options;
  const list = overview.alerts;
  const issuerNames = new Map(overview.issuers.map((i) => [i.id, i.name]));

  const filterForm = html`<section class="card">
    <form method="get" action="/supervisor" class="filters" aria-label="${t.filters}">
      <input type="hidden" name="lang" value="${lang}" />
      <label
        >${t.status}
        <select name="status">
          ${(['open', 'resolved', 'all'] as const).map((s) =>
            option(s, t.statusChoice[s], filters.statusChoice === s),
          )}
        </select></label
      >
      <label
        >${t.reason}
        <select name="reason">
          ${option('', t.anyReason, !filters.reason)}
          ${alertReasons.map((r) => option(r, reasonLabel(t, r), filters.reason === r))}
        </select></label
      >
      <label
        >${t.issuer}
        <select name="issuer">
          ${option('', t.anyIssuer, !filters.issuer)}
          ${overview.issuers.map((i) => option(i.id, i.name, filters.issuer === i.id))}
        </select></label
      >
      <button type="submit">${t.filter}</button>
    </form>
    <p class="hint" id="alert-count">${t.alertCount(list.total, list.items.length)}</p>
  </section>`;

  const charts = html`<div class="charts">
      <section class="card" id="map-card">
        <h2>${t.mapTitle}</h2>
        <div id="alert-map" class="chart" role="img" aria-label="${t.mapTitle}"></div>
        <p class="hint">${t.mapHint}</p>
      </section>
      <section class="card" id="trend-card">
        <h2>${t.trendTitle(TREND_DAYS)}</h2>
        <div id="trend" class="chart" role="img" aria-label="${t.trendTitle(TREND_DAYS)}"></div>
        <p class="hint">${t.trendHint}</p>
      </section>
    </div>
    <section class="card" id="clones">
      <h2>${t.clonesTitle}</h2>
      <p class="hint">${t.clonesHint}</p>
      ${
        overview.clones.length === 0
          ? html`<p class="muted">${t.noClones}</p>`
          : html`<div class="clones">
              ${overview.clones.map(
                (clone) =>
                  html`<figure class="clone" data-serial="${clone.serial}">
                    <figcaption>${clone.serial}</figcaption>
                    <div
                      class="chart clone"
                      data-clone-map="${clone.serial}"
                      role="img"
                      aria-label="${t.clonesTitle} ${clone.serial}"
                    ></div>
                    <ol class="checks">
                      ${clone.scans.map((s) => html`<li>${scanLine(s, lang)}</li>`)}
                    </ol>
                  </figure>`,
              )}
            </div>`
      }
    </section>`;

  const sections = alertSeverities.map((severity) => {
    const items = list.items.filter((a) => a.severity === severity);
    return html`<section
      class="card severity ${severity}"
      id="severity-${severity}"
      data-severity="${severity}"
    >
      <h2>${t.severity[severity]} <span class="muted">(${items.length})</span></h2>
      ${
        items.length === 0
          ? html`<p class="muted">${t.none}</p>`
          : html`<table class="alerts">
              <thead>
                <tr>
                  <th>${t.reason}</th>
                  <th>${t.subject}</th>
                  <th class="num">${t.count}</th>
                  <th>${t.firstSeen}</th>
                  <th>${t.lastSeen}</th>
                  <th>${t.regions}</th>
                  <th>${t.issuer}</th>
                  <th>${t.status}</th>
                </tr>
              </thead>
              <tbody>
                ${items.map((a) =>
                  alertRows(a, lang, {
                    issuer: a.issuerId ? (issuerNames.get(a.issuerId) ?? a.issuerId) : '—',
                    reports: overview.reports.filter((r) => r.alertId === a.id),
                    reportCount: overview.reportCounts.get(a.id) ?? 0,
                    history: overview.history.filter((h) => h.subjectId === a.id),
                    scans:
                      a.subjectType === 'mark'
                        ? overview.scans.filter((x) => x.serial === a.subject)
                        : [],
                  }),
                )}
              </tbody>
            </table>`
      }
    </section>`;
  });

  return layout(view, {
    title: t.title,
    formToken: options.formToken,
    query: options.query,
    body: html`${filterForm}${charts}${sections}
      <section class="card" id="summary-card">
        <h2>${t.summaryTitle}</h2>
        ${summaryTable(overview.summary, lang)}
      </section>
      <script type="application/json" id="console-data">
        ${raw(scriptJson(consoleData(overview, lang)))}
      </script>`,
  });
}

function alertRows(
  a: AlertView,
  lang: Lang,
  related: {
    issuer: string;
    reports: (AlertReportView & { alertId: string | null })[];
    /** The alert's reports in all: more than are shown when it has many. */
    reportCount: number;
    history: ConsoleOverview['history'];
    scans: RecentScan[];
  },
): Html {
  const t = consoleWords[lang];
  const json = (value: unknown) => JSON.stringify(value, null, 1);
  return html`<tr class="alert" data-alert-id="${a.id}" data-reason="${a.reason}">
      <td data-label="${t.reason}"><strong>${reasonLabel(t, a.reason)}</strong></td>
      <td data-label="${t.subject}">
        <span class="muted">${a.subjectType}</span> <code>${a.subject}</code>
      </td>
      <td class="num" data-label="${t.count}">${a.count}</td>
      <td data-label="${t.firstSeen}">${timeOf(a.firstSeen, lang)}</td>
      <td data-label="${t.lastSeen}">${timeOf(a.lastSeen, lang)}</td>
      <td data-label="${t.regions}">
        ${a.regions.length ? a.regions.map((r) => regionLabel(r, lang)).join(', ') : '—'}
      </td>
      <td data-label="${t.issuer}">${related.issuer}</td>
      <td class="status-${a.status}" data-label="${t.status}">${t.alertStatus[a.status]}</td>
    </tr>
    <tr>
      <td colspan="8">
        <details>
          <summary>${t.details}</summary>
          <dl>
            <dt>${t.alertId}</dt>
            <dd><code>${a.id}</code></dd>
            <dt>${t.certificate}</dt>
            <dd>${a.certificateId ? html`<code>${a.certificateId}</code>` : '—'}</dd>
            <dt>${t.raisedBy}</dt>
            <dd>
              ${a.raisedBy.channel} · ${t.verdict}
              ${t.verdicts[a.raisedBy.verdict] ?? a.raisedBy.verdict}
            </dd>
            <dt>${t.findings}</dt>
            <dd>
              ${a.raisedBy.reasons.map((r) => html`<div><strong>${r.code}</strong> ${r.message}</div>`)}
            </dd>
            <dt>${t.context}</dt>
            <dd>${a.raisedBy.context ? html`<pre>${json(a.raisedBy.context)}</pre>` : '—'}</dd>
            ${
              a.lastSeenBy
                ? html`<dt>${t.latestRepeat}</dt>
                    <dd>
                      ${a.lastSeenBy.channel}${a.lastSeenBy.context ? html`<pre>${json(a.lastSeenBy.context)}</pre>` : ''}
                    </dd>`
                : ''
            }
            ${
              a.resolution
                ? html`<dt>${t.resolved}</dt>
                    <dd>${timeOf(a.resolution.at, lang)}: ${a.resolution.note}</dd>`
                : ''
            }
            ${
              related.reports.length
                ? html`<dt>${t.reports}</dt>
                    <dd>
                      ${related.reports.map(
                        (r) =>
                          html`<div>
                            ${timeOf(r.createdAt, lang)}
                            ${r.region ? regionLabel(r.region, lang) : ''}:
                            ${r.description}${r.contact ? html` <span class="muted">(${t.contact}: ${r.contact})</span>` : ''}
                          </div>`,
                      )}
                      ${
                        related.reportCount > related.reports.length
                          ? html`<p class="muted">
                              ${t.latestReports(related.reports.length, related.reportCount)}:
                              <code>GET /v1/alerts/${a.id}</code>
                            </p>`
                          : ''
                      }
                    </dd>`
                : ''
            }
            ${
              related.scans.length
                ? html`<dt>${t.latestChecks}</dt>
                    <dd class="scans">
                      ${related.scans.map((x) => html`<div>${scanLine(x, lang)}</div>`)}
                      <p class="muted">
                        ${t.allChecks}: <code>GET /v1/marks/${a.subject}/scans</code>
                      </p>
                    </dd>`
                : ''
            }
            <dt>${t.auditHistory}</dt>
            <dd>
              ${
                related.history.length
                  ? related.history.map(
                      (h) =>
                        html`<div>
                          #${h.seq ?? '—'} ${timeOf(h.at, lang)} <strong>${h.action}</strong>
                          ${t.by} ${h.actorRole ?? '—'}
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
  const t = consoleWords[lang];
  const where = scan.region
    ? regionLabel(scan.region, lang)
    : html`<span class="muted">${t.noRegion}</span>`;
  const point =
    scan.lat !== null && scan.lon !== null
      ? ` · ${scan.lat.toFixed(3)}, ${scan.lon.toFixed(3)}`
      : '';
  return html`${timeOf(scan.at, lang)} · ${where}${point} · ${scan.channel} ·
  ${t.verdicts[scan.verdict] ?? scan.verdict}`;
}

function summaryTable(rows: AlertSummaryRow[], lang: Lang): Html {
  const t = consoleWords[lang];
  if (rows.length === 0) return html`<p class="muted">${t.noAlerts}</p>`;
  const reasons = [...new Set(rows.map((r) => r.reason))].sort();
  const seen = [...new Set(rows.map((r) => r.province ?? ''))].sort((a, b) =>
    a === '' ? 1 : b === '' ? -1 : a < b ? -1 : 1,
  );
  const cell = (province: string, reason: string) =>
    rows.find((r) => (r.province ?? '') === province && r.reason === reason);
  return html`<div class="scroll">
      <table id="summary">
        <thead>
          <tr>
            <th>${t.region}</th>
            ${reasons.map((r) => html`<th class="num">${reasonLabel(t, r)}</th>`)}
            <th class="num">${t.alerts}</th>
          </tr>
        </thead>
        <tbody>
          ${seen.map((p) => {
            const total = rows
              .filter((r) => (r.province ?? '') === p)
              .reduce((n, r) => n + r.alerts, 0);
            return html`<tr>
              <td>${p ? `${p} ${provinces[p]?.[lang] ?? ''}` : t.unknownRegion}</td>
              ${reasons.map((reason) => {
                const found = cell(p, reason);
                return html`<td class="num">
                  ${found ? html`${found.alerts} <span class="muted">(${found.findings})</span>` : ''}
                </td>`;
              })}
              <td class="num">${total}</td>
            </tr>`;
          })}
        </tbody>
      </table>
    </div>
    <p class="hint">${t.summaryHint}</p>`;
}
