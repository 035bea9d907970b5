/**
 * Content negotiation for the routes that answer in more than one media type (a page or JSON, CSV or
 * NDJSON; RFC 9110 §12.5.1): each media type gets the weight of the most specific range in `Accept`
 * that matches it (`text/html` before `text/*` before `*\/*`), 0 when none does.
 */

interface MediaRange {
  type: string;
  subtype: string;
  q: number;
}

/** The `q` among an element's parameters (RFC 9110 §12.4.2): 1 without one, NaN when malformed. */
function qValueOf(params: readonly string[]): number {
  let q = 1;
  for (const param of params) {
    const [name, value] = param.split('=').map((s) => s.trim());
    if (name?.toLowerCase() === 'q')
      q = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/.test(value ?? '') ? Number(value) : NaN;
  }
  return q;
}

/** The ranges of an Accept header; a range whose `q` is not a qvalue (0 to 1) is left out. */
function mediaRanges(accept: string): MediaRange[] {
  const ranges: MediaRange[] = [];
  for (const part of accept.split(',')) {
    const [range = '', ...params] = part.split(';');
    const [type, subtype] = range.trim().toLowerCase().split('/');
    if (!type || !subtype) continue;
    const q = qValueOf(params);
    if (!Number.isNaN(q)) ranges.push({ type, subtype, q });
  }
  return ranges;
}

/**
 * The weight `ranges` give `mediaType` (`type/subtype`, lower case), and how specific the range
 * that gave it is (2 the type itself, 1 `type/*`, 0 `*\/*`, -1 none).
 */
function weightOf(
  ranges: readonly MediaRange[],
  mediaType: string,
): { q: number; specificity: number } {
  const [type, subtype] = mediaType.split('/');
  let best = { specificity: -1, q: 0 };
  for (const range of ranges) {
    const specificity =
      range.type === type && range.subtype === subtype
        ? 2
        : range.type === type && range.subtype === '*'
          ? 1
          : range.type === '*' && range.subtype === '*'
            ? 0
            : -1;
    if (specificity > best.specificity) best = { specificity, q: range.q };
  }
  return best;
}

/** Whether weight `a` ranks above `b`: a higher q, or the same from a more specific range. */
function ranksAbove(
  a: { q: number; specificity: number },
  b: { q: number; specificity: number },
): boolean {
  return a.q > b.q || (a.q === b.q && a.specificity > b.specificity);
}

/**
 * Whether `accept` ranks one of `preferred` above every one of `others`: a higher q, or the same q
 * from a more specific range. Otherwise (a tie, or neither named) the caller's default, `others`.
 *
 * @example
 * prefers('text/csv', ['text/csv'], ['application/x-ndjson']); // true
 * prefers('text/csv;q=0, *\/*', ['text/csv'], ['application/x-ndjson']); // false
 */
export function prefers(
  accept: string | undefined,
  preferred: readonly string[],
  others: readonly string[],
): boolean {
  if (!accept) return false;
  const ranges = mediaRanges(accept);
  const best = (types: readonly string[]) =>
    types
      .map((type) => weightOf(ranges, type))
      .reduce((a, b) => (ranksAbove(b, a) ? b : a), { q: 0, specificity: -1 });
  const wanted = best(preferred);
  return wanted.q > 0 && ranksAbove(wanted, best(others));
}

/**
 * Whether `accept` weighs JSON (`application/json`, or `application/problem+json` for a refusal)
 * above a page (`text/html`): a higher q, or the same q from a more specific range (an HTTP
 * library's `application/json, *\/*` asks for JSON). Otherwise a page: a browser's Accept, `*\/*`,
 * none, or `application/json, text/html` alike.
 *
 * @example
 * prefersJson('application/json'); // true
 * prefersJson('application/json, text/html;q=0.5'); // true
 * prefersJson('application/json, text/plain, *\/*'); // true
 * prefersJson('text/html,application/xhtml+xml,*\/*;q=0.8'); // false
 */
export function prefersJson(accept: string | undefined): boolean {
  return prefers(accept, ['application/json', 'application/problem+json'], ['text/html']);
}

/**
 * Whether `acceptEncoding` (an `Accept-Encoding` header) takes `coding` (RFC 9110 §12.5.3): named
 * with a q above 0 (`x-gzip` for `gzip`), or left to `*` with one. None at all, or `coding;q=0`,
 * is no.
 *
 * @example
 * acceptsEncoding('gzip, deflate, br', 'gzip'); // true
 * acceptsEncoding('*;q=0.5, gzip;q=0', 'gzip'); // false
 */
export function acceptsEncoding(acceptEncoding: string | undefined, coding: string): boolean {
  if (!acceptEncoding) return false;
  let named: number | undefined;
  let any: number | undefined;
  for (const part of acceptEncoding.split(',')) {
    const [token = '', ...params] = part.split(';').map((s) => s.trim());
    const weight = qValueOf(params);
    const q = Number.isNaN(weight) ? 0 : weight; // a malformed weight takes nothing
    const lower = token.toLowerCase();
    // RFC 9110 §8.4.1.3: "x-gzip" is to be taken as "gzip".
    if (lower === coding || (coding === 'gzip' && lower === 'x-gzip')) named = q;
    else if (lower === '*') any = q;
  }
  return (named ?? any ?? 0) > 0;
}
