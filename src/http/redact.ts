import { decodeMarkCode, MARK_CODE_LENGTH } from '../crypto/mark-code-core';

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
  return redactGroupedCodes(percentDecoded(text)).replace(TOKEN_RUN, (run) =>
    UUID.test(run) ? run : `${run.slice(0, KEPT_PREFIX)}…`,
  );
}

/** Up to this many characters between two groups of a code written in groups. */
const MAX_SEPARATOR = 4;

const isCodeChar = (c: number) =>
  (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 50 && c <= 55); // A-Z a-z 2-7
const isAlphanumeric = (c: number) =>
  (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57);
const isHex = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);

/**
 * A mark code written in groups — spaces, dots or dashes between them, a group a line, an escape
 * the text keeps (`%0A`) — as someone copying a code by hand, or probing the log, writes it: cut to
 * its first characters wherever it stands, whatever the groups' lengths. The text is walked once
 * (linear: a pattern with nested repetition took seconds on a long run of letters), collecting runs
 * of base32 characters (a code's alphabet) with separators of up to {@link MAX_SEPARATOR}
 * characters that are neither letters nor digits; from each group's start, the next 120 of the
 * run's characters are a code when they decode as one (version 1, serial check digits: one chance
 * in thousands for anything else), so words, model names and serials in groups stay as they are.
 * A code in one piece is left to TOKEN_RUN.
 */
function redactGroupedCodes(text: string): string {
  // Decoding is what costs: past this many in one text (a hostile one), a candidate that begins
  // as a code does is cut without decoding it.
  let decodes = MAX_DECODES;
  let out = '';
  let copied = 0;
  for (let i = 0; i < text.length;) {
    if (!isCodeChar(text.charCodeAt(i))) {
      i += 1;
      continue;
    }
    // One run from i: the places of its characters, and where in them each group starts.
    const places: number[] = [];
    const groupStarts: number[] = [];
    let j = i;
    for (;;) {
      groupStarts.push(places.length);
      while (j < text.length && isCodeChar(text.charCodeAt(j))) places.push(j++);
      let k = j;
      let separators = 0;
      while (k < text.length && separators < MAX_SEPARATOR) {
        const c = text.charCodeAt(k);
        if (c === 37 && isHex(text.charCodeAt(k + 1)) && isHex(text.charCodeAt(k + 2))) k += 3;
        else if (c !== 37 && !isAlphanumeric(c)) k += 1;
        else break;
        separators += 1;
      }
      if (separators === 0 || k >= text.length || !isCodeChar(text.charCodeAt(k))) break;
      j = k;
    }
    i = j;
    if (groupStarts.length < 2 || places.length < MARK_CODE_LENGTH) continue;
    const letters = places.map((at) => text[at]).join('');
    let free = 0;
    for (const start of groupStarts) {
      if (start < free) continue;
      if (start + MARK_CODE_LENGTH > letters.length) break;
      const candidate = letters.slice(start, start + MARK_CODE_LENGTH);
      if (!beginsAsCode(candidate)) continue;
      if (decodes > 0) {
        decodes -= 1;
        if (!isMarkCode(candidate)) continue;
      }
      out += `${text.slice(copied, places[start])}${candidate.slice(0, KEPT_PREFIX)}…`;
      copied = places[start + MARK_CODE_LENGTH - 1]! + 1;
      free = start + MARK_CODE_LENGTH;
    }
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/** Candidates decoded in one text at most (see redactGroupedCodes). */
const MAX_DECODES = 64;

/** Version 1 makes every code begin A then E–H: most candidates end here, undecoded. */
const beginsAsCode = (candidate: string) => /^[Aa][E-He-h]/.test(candidate);

/** Whether 120 base32 characters decode as a mark code (its signature is not checked). */
function isMarkCode(candidate: string): boolean {
  try {
    return decodeMarkCode(candidate).serialCheckDigitsValid;
  } catch {
    return false;
  }
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
