import { randomBytes } from 'node:crypto';
import { html, raw } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import type { Verdict } from '../verification/verdict';
import { certificateVerdictWords, ui, verdictWords, type Lang } from './i18n';

/**
 * The one shell of every page this service renders (the consumer pages, the offline verifier, the
 * supervisor's console): Chinese or English with a switch, one column that reads on a 360-pixel
 * phone, the same security headers. The consumer pages put the verdict first in a coloured banner
 * with an icon and one plain sentence, then the details. No asset from another host; the inline
 * style and scripts carry a per-response CSP nonce, and every value is escaped by hono/html's
 * `html` template.
 */

type Fragment = HtmlEscapedString | Promise<HtmlEscapedString>;

export type BannerKind = Verdict | 'typo' | 'check' | 'busy';

export const bannerIcons: Record<BannerKind, string> = {
  authentic: '✓',
  forged: '✗',
  misused: '!',
  invalid: '⊘',
  suspicious: '?',
  typo: '✎',
  check: '⌕',
  busy: '⏳',
};

const styles = `
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif;color:#1f2328;background:#f3f4f6}
main{max-width:40rem;margin:0 auto;padding:0.75rem}
main.wide{max-width:80rem}
nav.lang{text-align:right;font-size:0.875rem;margin-bottom:0.5rem}
nav.lang a{color:#0b57d0;padding:0.25rem 0.5rem}
nav.lang a[aria-current]{color:#1f2328;font-weight:600;text-decoration:none}
.verdict{display:flex;gap:0.75rem;align-items:center;color:#fff;border-radius:0.75rem;padding:1rem}
.verdict .icon{flex:none;width:3.25rem;height:3.25rem;border-radius:50%;background:rgba(255,255,255,.22);display:flex;align-items:center;justify-content:center;font-size:2rem;font-weight:700}
.verdict>div{min-width:0}
.verdict h1{margin:0;font-size:1.75rem;line-height:1.2;overflow-wrap:anywhere}
.verdict p{margin:0.25rem 0 0;overflow-wrap:anywhere}
.verdict-authentic{background:#1a7f37}
.verdict-forged{background:#b42318}
.verdict-misused{background:#c2410c}
.verdict-invalid{background:#57534e}
.verdict-suspicious{background:#a16207}
.verdict-typo,.verdict-check,.verdict-busy{background:#1d4ed8}
section.card{background:#fff;border-radius:0.75rem;padding:0.75rem 1rem;margin-top:0.75rem;overflow-wrap:anywhere}
section.card h2{font-size:1.05rem;margin:0 0 0.5rem}
ul.reasons{margin:0;padding-left:1.25rem}
ul.reasons small{display:block;color:#57606a}
dl{margin:0;display:grid;grid-template-columns:minmax(5.5rem,auto) minmax(0,1fr);gap:0.35rem 0.75rem}
dt{color:#57606a;overflow-wrap:anywhere}
dd{margin:0;overflow-wrap:anywhere}
/* Narrow (a phone at 200 % zoom): details stacked, the verdict's icon above its words. After the
   rules it overrides. */
@media (max-width:20rem){dl{grid-template-columns:minmax(0,1fr);gap:0 0}dd{margin-bottom:0.35rem}.verdict{flex-direction:column;align-items:flex-start}.verdict h1{font-size:1.25rem}}
.nowrap{white-space:nowrap}
.hint{color:#57606a;font-size:0.875rem;margin:0.5rem 0 0}
form label{display:block;margin-top:0.5rem;font-size:0.9rem}
input[type=file]{max-width:100%}
textarea,input[type=text]{width:100%;font:inherit;padding:0.5rem;border:1px solid #d0d7de;border-radius:0.5rem}
textarea{min-height:5rem}
button{margin-top:0.75rem;width:100%;font:inherit;font-weight:600;padding:0.7rem;border:0;border-radius:0.5rem;background:#1f2328;color:#fff}
footer{color:#57606a;font-size:0.8rem;text-align:center;margin:1rem 0}
`;

export function newNonce(): string {
  return randomBytes(16).toString('base64');
}

/** The Content-Security-Policy of a page rendered with `nonce`: nothing but itself and the API. */
export function pageCsp(nonce: string): string {
  return [
    "default-src 'none'",
    `style-src 'nonce-${nonce}'`,
    `script-src 'nonce-${nonce}'`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * The headers of every page (consumer, offline verifier, supervisor, and the refusals shown in
 * their place): the CSP of its nonce, never cached or framed, no referrer leaving with a code in it.
 */
export function pageHeaders(nonce: string, lang: Lang): Record<string, string> {
  return {
    'content-security-policy': pageCsp(nonce),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'content-language': lang === 'zh' ? 'zh-CN' : 'en',
  };
}

/** The document every page is: head, language switch, body, scripts. */
export interface Shell {
  lang: Lang;
  /** The document's title. */
  title: string;
  nonce: string;
  body: Fragment;
  /** The page's own styles, after the shared ones. */
  styles?: string;
  /** Scripts this service serves (e.g. a bundled library), loaded before `script`. */
  scriptSources?: readonly string[];
  /** Script run after the page; gets the nonce. */
  script?: string;
  /** Where the language switch leads for `lang` (by default the same page with `?lang=`). */
  langHref?: (lang: Lang) => string;
  /** A wide page (the supervisor's tables and charts) rather than a phone's one column. */
  wide?: boolean;
}

export function shell(shell: Shell): Fragment {
  const { lang } = shell;
  const other: Lang = lang === 'zh' ? 'en' : 'zh';
  const href = shell.langHref ?? ((to: Lang) => `?lang=${to}`);
  return html`<!doctype html>
    <html lang="${lang === 'zh' ? 'zh-CN' : 'en'}">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="no-referrer" />
        <meta name="robots" content="noindex" />
        <link rel="icon" href="data:," />
        <title>${shell.title}</title>
        <style nonce="${shell.nonce}">
          ${raw(styles)}${raw(shell.styles ?? '')}
        </style>
      </head>
      <body>
        <main${raw(shell.wide ? ' class="wide"' : '')}>
          <nav class="lang">
            <a href="${href(lang)}" aria-current="true" lang="${lang}">${ui[lang].langName}</a
            ><a href="${href(other)}" lang="${other}" hreflang="${other}">${ui[other].langName}</a>
          </nav>
          ${shell.body}
        </main>
        ${(shell.scriptSources ?? []).map(
          (src) => html`<script nonce="${shell.nonce}" src="${src}"></script>`,
        )}
        ${
          shell.script
            ? html`<script nonce="${shell.nonce}">
                ${raw(shell.script)};
              </script>`
            : ''
        }
      </body>
    </html>`;
}

/** A consumer page: the verdict banner first, then the details. */
export interface PageShell {
  lang: Lang;
  title: string;
  banner: { kind: BannerKind; title: string; sentence: string };
  body: Fragment;
  /** Script run after the page (the report form); gets the nonce. */
  script?: string;
  nonce: string;
}

/** The verdict banner of a mark's page, or (`subject: 'certificate'`) of a certificate's. */
export function bannerOf(verdict: Verdict, lang: Lang, subject: 'mark' | 'certificate' = 'mark') {
  const words = subject === 'certificate' ? certificateVerdictWords : verdictWords;
  return { kind: verdict, ...words[verdict][lang] };
}

export function page(options: PageShell): Fragment {
  const { banner } = options;
  return shell({
    lang: options.lang,
    title: `${banner.title} · ${options.title}`,
    nonce: options.nonce,
    script: options.script,
    body: html`<section
        class="verdict verdict-${banner.kind}"
        role="status"
        data-verdict="${banner.kind}"
      >
        <div class="icon" aria-hidden="true">${bannerIcons[banner.kind]}</div>
        <div>
          <h1>${banner.title}</h1>
          <p>${banner.sentence}</p>
        </div>
      </section>
      ${options.body}
      <footer>certmark · ${options.title}</footer>`,
  });
}

/** JSON placed in a `<script>` data block: `<`, `>` and `&` escaped so no text can end the block. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * The report form, POSTing JSON to /v1/reports (the subject travels in hidden fields). Hidden until
 * its script shows it (reportScript, which sends it): without the script, a plain submit put the
 * report in the page's address and sent it nowhere (an outside walkthrough with JavaScript off).
 */
export function reportForm(
  lang: Lang,
  subject: { code?: string; certificateNumber?: string; certificateId?: string },
): Fragment {
  const t = ui[lang];
  return html`<section class="card" id="report-card">
    <h2>${t.report}</h2>
    <p class="hint">${t.reportHelp}</p>
    <noscript><p class="hint">${t.reportNeedsScript}</p></noscript>
    <form
      id="report"
      hidden
      data-sent="${t.sent}"
      data-failed="${t.sendFailed}"
      data-invalid="${t.sendInvalid}"
    >
      ${subject.code ? html`<input type="hidden" name="code" value="${subject.code}" />` : ''}
      ${subject.certificateNumber ? html`<input type="hidden" name="certificateNumber" value="${subject.certificateNumber}" />` : ''}
      ${subject.certificateId ? html`<input type="hidden" name="certificateId" value="${subject.certificateId}" />` : ''}
      <label for="report-description">${t.description}</label>
      <textarea id="report-description" name="description" required maxlength="2000"></textarea>
      <label for="report-region">${t.region}</label>
      <input
        type="text"
        id="report-region"
        name="region"
        inputmode="numeric"
        pattern="[0-9]{6}"
        maxlength="6"
        autocomplete="off"
      />
      <button type="submit">${t.send}</button>
      <p id="report-result" class="hint" role="status"></p>
    </form>
  </section>`;
}

/** Sends the report form as JSON; a static script (no values inside), so the CSP nonce covers it. */
export const reportScript = `
(function () {
  var form = document.getElementById('report');
  if (!form) return;
  form.hidden = false;
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var out = document.getElementById('report-result');
    var body = { description: form.elements.description.value.trim() };
    if (form.elements.code) body.code = form.elements.code.value;
    if (form.elements.certificateNumber) body.certificateNumber = form.elements.certificateNumber.value;
    if (form.elements.certificateId) body.certificateId = form.elements.certificateId.value;
    var region = form.elements.region.value.trim();
    if (region) body.region = region;
    fetch('/v1/reports', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      .then(function (res) {
        // A refusal of what was typed (400, 422) will not pass by trying later: say what to check.
        out.textContent = res.ok ? form.dataset.sent
          : res.status === 400 || res.status === 422 ? form.dataset.invalid : form.dataset.failed;
        if (res.ok) form.reset();
      })
      .catch(function () { out.textContent = form.dataset.failed; });
  });
})();
`;
