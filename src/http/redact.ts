/** A run this long of base32 / base64url characters is treated as a mark code, key or credential. */
const TOKEN_RUN = /[A-Za-z0-9_-]{24,}/g;
/** Resource ids stay readable: a UUID is a run of this shape, and is no secret. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const KEPT_PREFIX = 8;

/**
 * A request path as a log line or a problem's `instance` may show it (SPEC "Service": never a key,
 * a full credential or a full mark code): every long token-like run is cut to a prefix. A mark code
 * is taken wherever it stands, not only as `/m/<code>`: the router accepts `/m/%20<code>`, a whole
 * mark URL percent-encoded into one segment, or a code spelt in percent escapes, so the path is
 * percent-decoded as the router decodes it before it is searched.
 *
 * @example
 * redactPath('/m/http%3A%2F%2Fexample.com%2Fm%2FAF2FBGYY…(120 characters)')
 * // → '/m/http://example.com/m/AF2FBGYY…'
 */
export function redactPath(path: string): string {
  return percentDecoded(path).replace(TOKEN_RUN, (run) =>
    UUID.test(run) ? run : `${run.slice(0, KEPT_PREFIX)}…`,
  );
}

/** Each run of valid percent escapes decoded; an invalid one (`%ZZ`, a lone `%C0`) kept as it is. */
function percentDecoded(path: string): string {
  return path.replace(/(?:%[0-9A-Fa-f]{2})+/g, (escapes) => {
    try {
      return decodeURIComponent(escapes);
    } catch {
      return escapes;
    }
  });
}
