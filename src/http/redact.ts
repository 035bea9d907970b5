import { MARK_CODE_LENGTH } from '../crypto/mark-code-core';

/**
 * A run this long of base32 / base64url characters is treated as a mark code, key or credential;
 * their full-width forms count too (a Chinese input method types a code as ＡＦ２Ｆ…, which anyone can
 * turn back into it).
 */
const TOKEN_RUN_LENGTH = 24;
const TOKEN_RUN = new RegExp(`[A-Za-z0-9_\\-Ａ-Ｚａ-ｚ０-９＿－]{${TOKEN_RUN_LENGTH},}`, 'g');
/** Resource ids stay readable: a UUID is a run of this shape, and is no secret. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const KEPT_PREFIX = 8;

/**
 * Text as a log line, a problem's `instance`, an alert or a consumer's report may keep it, with
 * every long token-like run cut to a prefix: never a key, a full credential or a full mark code
 * (SPEC "Service"; "Product marks": only the owning issuer can obtain a mark's code, for whoever
 * holds one can print copies of it). A mark code is taken wherever it stands, not only as
 * `/m/<code>`: the router accepts `/m/%20<code>`, a whole mark URL percent-encoded into one segment,
 * or a code spelt in percent escapes, and a consumer pastes whatever their phone gave them, so the
 * text's escapes of printable ASCII are decoded before it is searched. A mark serial (16 digits)
 * and a UUID stay whole: they name a record and are no secret. (An error's message for a log line
 * is cut by `redactTokens` in src/shared/loggable-error.ts, which decodes nothing.)
 *
 * @example
 * redactText('/m/http%3A%2F%2Fexample.com%2Fm%2FAF2FBGYY…(120 characters)')
 * // → '/m/http://example.com/m/AF2FBGYY…'
 */
export function redactText(text: string): string {
  return percentDecoded(text)
    .replace(GROUPED_RUN, redactGroups)
    .replace(TOKEN_RUN, (run) => (UUID.test(run) ? run : `${run.slice(0, KEPT_PREFIX)}…`));
}

/**
 * A code written in groups: runs of base32 characters (a mark code's alphabet) joined by short
 * separators — up to three characters that are neither letters nor digits, or an escape the text
 * keeps (`%0A`) — as someone copying a code by hand, or probing the log, writes it
 * (`AF2FBGYY Q7Q7…`, `AF2F.BGYY.…`, one group a line). Taken for a code: groups of one length
 * (the last may be shorter; 120 characters at most, a code's length) joined by one separator,
 * around the first group with a digit, that make a token run together and have a digit from 2 to 7
 * in at least one place in twelve (a base32 code has one in about every fifth; words have none).
 * Sentences, model names and serials in groups are left alone.
 */
const GROUPED_RUN = /[A-Za-z2-7]{2,}(?:(?:[^A-Za-z0-9%]|%[0-9A-Fa-f]{2}){1,3}[A-Za-z2-7]{2,})+/g;
const GROUP = /[A-Za-z2-7]+/g;
const BASE32_DIGITS = /[2-7]/g;
const CODE_DIGIT_SHARE = 1 / 12;
const MIN_GROUP = 4;

function redactGroups(run: string): string {
  // Escapes blanked out first (same length, so the places stay): `%0A` is no group's `A`.
  const blanked = run.replace(/%[0-9A-Fa-f]{2}/g, '   ');
  const groups = [...blanked.matchAll(GROUP)].map((m) => ({ text: m[0], at: m.index }));
  const first = groups.findIndex((g) => /[2-7]/.test(g.text));
  if (first < 0) return run;
  const size = groups[first]!.text.length;
  if (size < MIN_GROUP) return run;
  const separatorAfter = (i: number) =>
    run.slice(groups[i]!.at + groups[i]!.text.length, groups[i + 1]!.at);
  const separator = first + 1 < groups.length ? separatorAfter(first) : '';
  // The groups before it of its length and separator are the code's too (its first may have no
  // digit).
  let start = first;
  while (
    start > 0 &&
    groups[start - 1]!.text.length === size &&
    separatorAfter(start - 1) === separator
  )
    start -= 1;
  let last = first;
  let length = size * (first - start + 1);
  while (
    last + 1 < groups.length &&
    separatorAfter(last) === separator &&
    groups[last + 1]!.text.length <= size &&
    length + groups[last + 1]!.text.length <= MARK_CODE_LENGTH
  ) {
    last += 1;
    length += groups[last]!.text.length;
    if (groups[last]!.text.length < size) break; // a shorter group ends the code
  }
  const joined = groups
    .slice(start, last + 1)
    .map((g) => g.text)
    .join('');
  const digits = joined.match(BASE32_DIGITS)?.length ?? 0;
  if (joined.length < TOKEN_RUN_LENGTH || digits < joined.length * CODE_DIGIT_SHARE) return run;
  const end = groups[last]!.at + groups[last]!.text.length;
  return `${run.slice(0, groups[start]!.at)}${joined.slice(0, KEPT_PREFIX)}…${run.slice(end)}`;
}

/** A request path as a log line or a problem's `instance` shows it: see {@link redactText}. */
export function redactPath(path: string): string {
  return redactText(path);
}

/**
 * Each percent escape of a printable ASCII character (space to `~`) decoded: enough to read a code
 * spelt in escapes, and never a character the text floor refuses (`%00` stays `%00`: a report keeps
 * what it is given, and the database cannot store NUL). Other escapes (`%ZZ`, `%C0`, multi-byte
 * UTF-8) are kept as they are: a mark code is ASCII.
 */
function percentDecoded(text: string): string {
  return text.replace(/%([0-9A-Fa-f]{2})/g, (escape, hex: string) => {
    const code = Number.parseInt(hex, 16);
    return code >= 0x20 && code <= 0x7e ? String.fromCharCode(code) : escape;
  });
}
