import { html, raw } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import type { CertificateView } from '../certificates/certificate-view';
import { groupSerial } from '../crypto/mark-scan';
import type { MarkVerification } from '../verification/mark-verification.service';
import type { CertificateVerification } from '../verification/verification.service';
import type { Reason } from '../verification/verdict';
import { chinaTime } from '../shared/dates';
import { regionName } from '../shared/provinces';
import { reasonWords, statusWords, ui, verdictWords, type Lang } from './i18n';
import { bannerIcons, bannerOf, page, reportForm, reportScript, scriptJson } from './layout';

type Fragment = HtmlEscapedString | Promise<HtmlEscapedString>;

function reasonsCard(reasons: readonly Reason[], lang: Lang): Fragment {
  if (reasons.length === 0) return html``;
  return html`<section class="card" id="reasons">
    <h2>${ui[lang].reasons}</h2>
    <ul class="reasons">
      ${reasons.map(
        (r) =>
          html`<li data-code="${r.code}">
            ${reasonWords[r.code][lang]}${lang === 'en' ? html`<small>${r.message}</small>` : ''}
          </li>`,
      )}
    </ul>
  </section>`;
}

function certificateCard(certificate: CertificateView, lang: Lang): Fragment {
  const t = ui[lang];
  return html`<section class="card" id="certificate">
    <h2>${t.certificate}</h2>
    <dl>
      <dt>${t.holder}</dt>
      <dd>${certificate.holder.name}</dd>
      <dt>${t.scope}</dt>
      <dd>
        ${certificate.scope.map(
          (item, i) =>
            html`${i > 0 ? '; ' : ''}${item.product}${item.models ? ` (${item.models.join(', ')})` : ''}`,
        )}
      </dd>
      <dt>${t.issuer}</dt>
      <dd>
        ${certificate.issuer.name}${certificate.issuer.accreditationNo ? ` · ${certificate.issuer.accreditationNo}` : ''}
      </dd>
      <dt>${t.validity}</dt>
      <dd>
        <span class="nowrap">${certificate.validFrom}</span> ${t.to}
        <span class="nowrap">${certificate.validUntil}</span>
      </dd>
      <dt>${t.status}</dt>
      <dd>
        ${statusWords[certificate.status]?.[lang] ?? certificate.status}${
          certificate.issuer.status === 'suspended' ? html` (${t.issuerSuspendedNote})` : ''
        }
        ${
          ['suspended', 'revoked', 'withdrawn'].includes(certificate.status) &&
          certificate.statusChangedAt
            ? html`<br /><small
                  >${t.statusSince}
                  ${chinaTime(certificate.statusChangedAt, lang)}${t.statusSinceEnd}${
                    certificate.statusReason
                      ? html` · ${t.statusReason}${certificate.statusReason}`
                      : ''
                  }</small
                >`
            : ''
        }
      </dd>
      <dt>${t.number}</dt>
      <dd>${certificate.number}</dd>
      <dt>${t.scheme}</dt>
      <dd>${certificate.scheme}</dd>
    </dl>
  </section>`;
}

/** GET /m/{code}: the verdict on a scanned mark, then why, the certificate, the mark's history. */
export function markPage(
  answer: MarkVerification,
  options: { lang: Lang; code: string; nonce: string },
): Fragment {
  const { lang } = options;
  const t = ui[lang];
  const mark = answer.mark;
  const markCard = mark
    ? html`<section class="card" id="mark">
        <h2>${t.mark}</h2>
        <dl>
          <dt>${t.serial}</dt>
          <dd>${groupSerial(mark.serial)}</dd>
          ${
            mark.model
              ? html`<dt>${t.model}</dt>
                  <dd>${mark.model}</dd>`
              : ''
          }
          ${
            mark.lot
              ? html`<dt>${t.lot}</dt>
                  <dd>${mark.lot}</dd>`
              : ''
          }
          <dt>${t.markStatus}</dt>
          <dd>${statusWords[mark.status]?.[lang] ?? mark.status}</dd>
          <dt>${t.scanCount}</dt>
          <dd id="scan-count">${mark.scanCount}</dd>
          <dt>${t.firstScan}</dt>
          <dd id="first-scan">
            ${
              mark.firstScan && mark.scanCount > 1
                ? html`${chinaTime(mark.firstScan.at, lang)},
                  ${regionName(mark.firstScan.region, lang) ?? t.unknownPlace}`
                : t.firstScanNone
            }
          </dd>
        </dl>
        <p class="hint">${t.firstScanHint}</p>
      </section>`
    : '';
  return page({
    lang,
    title: t.markTitle,
    nonce: options.nonce,
    banner: bannerOf(answer.verdict, lang),
    body: html`${reasonsCard(answer.reasons, lang)}
      ${answer.certificate ? certificateCard(answer.certificate, lang) : ''} ${markCard}
      ${reportForm(lang, { code: options.code })}
      <section class="card">
        <p class="hint">${t.checkedAt}: ${chinaTime(answer.checkedAt, lang)}</p>
      </section>`,
    script: reportScript,
  });
}

/** A typed serial (in a /m/ link) whose check digits fail: a typing error, not a forgery. */
export function serialTypoPage(options: { lang: Lang; nonce: string }): Fragment {
  const t = ui[options.lang];
  return page({
    lang: options.lang,
    title: t.markTitle,
    nonce: options.nonce,
    banner: { kind: 'typo', title: t.typoTitle, sentence: t.typoSentence },
    body: html``,
  });
}

/**
 * Any page refused by the public rate limit (429): the page's language, and how long to wait (the
 * same figure as the answer's Retry-After), instead of a problem+json a browser would show raw.
 */
export function rateLimitedPage(options: {
  lang: Lang;
  nonce: string;
  retryAfterSeconds: number;
}): Fragment {
  const t = ui[options.lang];
  return page({
    lang: options.lang,
    title: t.markTitle,
    nonce: options.nonce,
    banner: { kind: 'busy', title: t.busyTitle, sentence: t.busySentence },
    body: html`<section class="card">
      <dl>
        <dt>${t.busyWait}</dt>
        <dd data-retry-after="${options.retryAfterSeconds}">
          ${options.retryAfterSeconds} ${t.seconds}
        </dd>
      </dl>
      <p class="hint"><a href="">${t.busyRetry}</a></p>
    </section>`,
  });
}

/**
 * A mark's or a certificate's link that cannot be read at all (a code longer than any mark's, a
 * control character, an id no certificate could have): what a person who scanned it needs is the
 * page's answer, not the API's problem. Such a link is no label a certification body printed:
 * forged, with the report form (in words: the link itself is not kept).
 */
export function unreadableLinkPage(options: {
  lang: Lang;
  nonce: string;
  subject: 'mark' | 'certificate';
}): Fragment {
  const { lang } = options;
  const t = ui[lang];
  return page({
    lang,
    title: options.subject === 'mark' ? t.markTitle : t.certificateTitle,
    nonce: options.nonce,
    banner: bannerOf('forged', lang, options.subject),
    body: html`${reasonsCard(
      [{ code: 'MALFORMED', message: 'the link holds no certmark mark or certificate' }],
      lang,
    )}
    ${reportForm(lang, {})}`,
    script: reportScript,
  });
}

/**
 * GET /c/{id}: the verdict on a certificate (its QR code's link), and the report form on every
 * answer — a link to no certificate is what a forger's label would carry, so it is reported by the
 * id it names (or in words alone when the link holds no id at all).
 */
export function certificatePage(
  answer: CertificateVerification,
  options: { lang: Lang; nonce: string; reportAbout: { certificateId?: string } },
): Fragment {
  const { lang } = options;
  const t = ui[lang];
  return page({
    lang,
    title: t.certificateTitle,
    nonce: options.nonce,
    banner: bannerOf(answer.verdict, lang, 'certificate'),
    body: html`${reasonsCard(answer.reasons, lang)}
      ${answer.certificate ? certificateCard(answer.certificate, lang) : ''}
      ${reportForm(lang, options.reportAbout)}
      <section class="card">
        <p class="hint">${t.checkedAt}: ${chinaTime(answer.checkedAt, lang)}</p>
      </section>`,
    script: reportScript,
  });
}

/**
 * GET /verify/offline: a self-contained page that checks marks and certificate credentials in the
 * browser (SPEC "Offline bundle"). It carries the verifier (the CLI's module, bundled) and an
 * offline bundle (keys, status lists, the log checkpoint, signed by the log's key), so a saved copy
 * works with no network; a newer bundle saved by `certmark bundle` can be loaded into it. Every
 * answer shows how old its status information is, and past the bundle's limit says "status
 * unknown", never genuine.
 */
export function offlinePage(options: {
  lang: Lang;
  nonce: string;
  /** The offline bundle (compact JWS) as GET /v1/offline-bundle serves it. */
  bundle: string;
  keyCount: number;
  bundleAsOf: string;
  verifier: string;
}): Fragment {
  const { lang } = options;
  const t = ui[lang];
  const words = {
    lang,
    genuine: {
      title: t.offlineGenuineTitle,
      sentence: t.offlineGenuineSentence,
      caveat: t.offlineGenuineCaveat,
    },
    valid: { title: t.offlineValidTitle, sentence: t.offlineValidSentence },
    forged: verdictWords.forged[lang].title,
    invalid: verdictWords.invalid[lang].title,
    unknown: { title: t.offlineUnknownTitle, sentence: t.offlineUnknownSentence },
    notCovered: { title: t.offlineSerialTitle, sentence: t.offlineNotCoveredSentence },
    zone: lang === 'zh' ? '(北京时间)' : 'China Standard Time',
    badBundle: t.offlineBadBundle,
    badBundleSentence: t.offlineBadBundleSentence,
    olderBundle: t.offlineOlderBundle,
    reasons: {
      MALFORMED: reasonWords.MALFORMED[lang],
      BAD_SIGNATURE: reasonWords.BAD_SIGNATURE[lang],
      UNKNOWN_KEY: reasonWords.UNKNOWN_KEY[lang],
      UNKNOWN_ISSUER: reasonWords.UNKNOWN_ISSUER[lang],
      NOT_YET_VALID: reasonWords.NOT_YET_VALID[lang],
      EXPIRED: reasonWords.EXPIRED[lang],
      REVOKED: t.offlineRevoked,
      SUSPENDED: t.offlineSuspended,
      ISSUER_SUSPENDED: reasonWords.ISSUER_SUSPENDED[lang],
      MARK_VOID: reasonWords.MARK_VOID[lang],
    },
    age: {
      asOf: t.offlineStatusAsOf,
      ago: t.offlineAgo,
      fresh: t.offlineFreshUntil,
      stale: t.offlineStale,
      clockBehind: t.offlineClockBehind,
    },
    serial: { title: t.offlineSerialTitle, sentence: t.offlineSerialSentence },
    link: { title: t.offlineSerialTitle, sentence: t.offlineLinkSentence },
    typo: { title: t.typoTitle, sentence: t.typoSentence },
    icons: bannerIcons,
  };
  return page({
    lang,
    title: t.offlineTitle,
    nonce: options.nonce,
    banner: { kind: 'check', title: t.offlineTitle, sentence: t.offlineSentence },
    body: html`<noscript>
        <section class="card" id="offline-no-script">
          <p><strong>${t.offlineNoScript}</strong></p>
        </section>
      </noscript>
      <section class="card">
        <form id="offline-check">
          <label for="offline-code">${t.offlineInput}</label>
          <textarea id="offline-code" autocomplete="off" spellcheck="false"></textarea>
          <button type="submit">${t.offlineCheck}</button>
        </form>
        <p class="hint" id="offline-age"></p>
        <p class="hint">${t.offlineLimits}</p>
      </section>
      <section class="card">
        <p class="hint" id="offline-bundle-info">
          ${t.offlineKeys}: ${options.keyCount} · ${t.offlineKeysAsOf}
          ${chinaTime(options.bundleAsOf, lang)}
        </p>
        <label for="offline-bundle-file">${t.offlineLoadBundle}</label>
        <input type="file" id="offline-bundle-file" accept=".jws,.jwt,.txt,application/jose" />
      </section>
      <script type="application/json" id="certmark-bundle">
        ${raw(scriptJson(options.bundle))}
      </script>
      <script type="application/json" id="certmark-words">
        ${raw(scriptJson(words))}
      </script>`,
    script: `${options.verifier}\n${offlineScript}`,
  });
}

/**
 * Reads the embedded (or a loaded) bundle, runs the bundled verifier as of the browser's clock, and
 * shows its answer in the banner with the age of its status information.
 */
const offlineScript = `(function () {
  var read = function (id) { return JSON.parse(document.getElementById(id).textContent); };
  var words = read('certmark-words');
  var banner = document.querySelector('section.verdict');
  var ageLine = document.getElementById('offline-age');
  var loaded = certmarkOffline.readOfflineBundle(read('certmark-bundle'));
  var bundle = loaded.ok ? loaded.bundle : null;
  function show(kind, verdict, title, sentence) {
    banner.className = 'verdict verdict-' + kind;
    banner.setAttribute('data-verdict', verdict);
    banner.querySelector('.icon').textContent = words.icons[kind];
    banner.querySelector('h1').textContent = title;
    banner.querySelector('p').textContent = sentence;
  }
  // Times as the server's pages write them: China Standard Time, whatever the phone's zone.
  function chinaTime(at) {
    var local = new Date(new Date(at).getTime() + 8 * 3600000).toISOString();
    return local.slice(0, 10) + ' ' + local.slice(11, 16) + ' ' + words.zone;
  }
  function showAge(status) {
    var age = certmarkOffline.formatAge(status.ageSeconds, words.lang);
    ageLine.setAttribute('data-fresh', String(status.fresh));
    ageLine.textContent = words.age.asOf + ' ' + chinaTime(status.asOf) +
      ' · ' + age + words.age.ago + ' · ' +
      (status.fresh ? words.age.fresh + ' ' + chinaTime(status.freshUntil) : words.age.stale) +
      (status.clockBehindSeconds ? ' · ' + words.age.clockBehind : '');
  }
  function reasonText(answer) {
    return answer.reasons.map(function (r) { return words.reasons[r.code] || r.message; }).join(' ');
  }
  document.getElementById('offline-bundle-file').addEventListener('change', function (event) {
    var file = event.target.files && event.target.files[0];
    if (!file) return;
    var reader = new FileReader();
    reader.onload = function () {
      // A loaded bundle must be signed by the same log key as the one this page came with.
      var next = certmarkOffline.readOfflineBundle(String(reader.result).trim(),
        { logKid: loaded.ok ? loaded.bundle.logKid : undefined });
      if (next.ok && bundle && next.bundle.createdAt.getTime() < bundle.createdAt.getTime()) {
        // An older bundle would bring back what a newer one says is void, revoked or suspended.
        show('forged', 'bundle_refused', words.badBundle, words.olderBundle + ' ' +
          chinaTime(bundle.createdAt));
      } else if (next.ok) {
        bundle = next.bundle;
        document.getElementById('offline-bundle-info').textContent =
          words.age.asOf + ' ' + chinaTime(bundle.createdAt);
      } else {
        show('forged', 'bundle_refused', words.badBundle,
          words.badBundleSentence + ' (' + next.message + ')');
      }
    };
    reader.readAsText(file);
  });
  document.getElementById('offline-check').addEventListener('submit', function (event) {
    event.preventDefault();
    if (!bundle) { show('forged', 'bundle_refused', words.badBundle, loaded.message || ''); return; }
    var input = document.getElementById('offline-code').value.trim();
    var answer = certmarkOffline.verifyOffline(input, bundle, new Date());
    showAge(answer.status);
    var code = answer.reasons.length ? answer.reasons[0].code : '';
    if (answer.verdict === 'authentic') {
      if (answer.kind === 'mark') {
        show('authentic', 'authentic', words.genuine.title,
          words.genuine.sentence + ' ' + answer.issuer.name + ' (' + answer.serial + ') ' +
          words.genuine.caveat);
      } else {
        var c = answer.certificate || {};
        show('authentic', 'authentic', words.valid.title, words.valid.sentence + ' ' +
          [c.number, c.scheme, c.holder, answer.issuer.name].filter(Boolean).join(' · '));
      }
    } else if (answer.verdict === 'forged') {
      show('forged', 'forged', words.forged, reasonText(answer));
    } else if (answer.verdict === 'invalid') {
      show('invalid', 'invalid', words.invalid, reasonText(answer.reasons.some(function (r) {
        return r.code !== 'STATUS_UNKNOWN'; }) ? { reasons: answer.reasons.filter(function (r) {
        return r.code !== 'STATUS_UNKNOWN'; }) } : answer));
    } else if (answer.verdict === 'status_unknown') {
      show('check', 'status_unknown', words.unknown.title, words.unknown.sentence);
    } else if (code === 'SERIAL_CHECK_FAILED') {
      show('typo', 'typo', words.typo.title, words.typo.sentence);
    } else if (code === 'SERIAL_ONLY') {
      show('check', 'check', words.serial.title, words.serial.sentence);
    } else if (code === 'CERTIFICATE_LINK') {
      show('check', 'check', words.link.title, words.link.sentence);
    } else {
      show('check', 'check', words.notCovered.title, words.notCovered.sentence);
    }
  });
})()`;

/**
 * GET /verify: where a person types what is printed on a label (the serial) or a certificate's
 * number, without a QR code or a network of their own app: two plain forms (no script), answered
 * by the mark's page and the certificate's page.
 */
export function lookupPage(options: { lang: Lang; nonce: string; several?: string }): Fragment {
  const { lang } = options;
  const t = ui[lang];
  /** One plain GET form: a field, the page's language, a button. */
  const lookupForm = (form: { action: string; name: string; label: string; maxlength: number }) =>
    html`<section class="card">
      <form id="lookup-${form.name}" method="get" action="${form.action}">
        <label for="lookup-${form.name}-field">${form.label}</label>
        <input
          type="text"
          id="lookup-${form.name}-field"
          name="${form.name}"
          required
          maxlength="${form.maxlength}"
          autocomplete="off"
        />
        <input type="hidden" name="lang" value="${lang}" />
        <button type="submit">${t.lookupCheck}</button>
      </form>
    </section>`;
  return page({
    lang,
    title: t.lookupTitle,
    nonce: options.nonce,
    banner: { kind: 'check', title: t.lookupTitle, sentence: t.lookupSentence },
    body: html`${
        options.several
          ? html`<section class="card" id="lookup-several" role="alert">
              <p>${t.lookupSeveral}</p>
              <p><code>${options.several}</code></p>
            </section>`
          : ''
      }
      ${lookupForm({ action: '/m', name: 'code', label: t.lookupSerial, maxlength: 400 })}
      ${lookupForm({ action: '/c', name: 'number', label: t.lookupNumber, maxlength: 64 })}
      <p class="hint"><a href="/verify/offline?lang=${lang}">${t.lookupOffline}</a></p>`,
  });
}
