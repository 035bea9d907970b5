/**
 * A run this long of base32 / base64url characters is treated as a mark code, key or credential;
 * their full-width forms count too (a Chinese input method types a code as ＡＦ２Ｆ…, which anyone can
 * turn back into it).
 */
const TOKEN_RUN = /[A-Za-z0-9_\-Ａ-Ｚａ-ｚ０-９＿－]{24,}/g;
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
  return percentDecoded(text).replace(TOKEN_RUN, (run) =>
    UUID.test(run) ? run : `${run.slice(0, KEPT_PREFIX)}…`,
  );
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
