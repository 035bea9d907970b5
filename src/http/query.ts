import { z } from '@hono/zod-openapi';
import { EARLIEST_DATE, isCalendarDay, isSaneInstant, LATEST_DATE } from '../shared/dates';

/**
 * `since=` in a query string: a calendar day (`2026-11-24`, its start in UTC) or an ISO 8601
 * instant (`2026-11-24T08:00:00+08:00`), parsed to a Date. Each check stops at its own failure,
 * so a value is refused for the one reason that applies.
 */
export const sinceParam = z
  .string()
  // A query string reads a bare + as a space (application/x-www-form-urlencoded): the offset
  // of `…T08:00:00+08:00` typed into a URL arrives as `…T08:00:00 08:00`.
  .refine((s) => !/T[\d:.]+ \d{2}(:?\d{2})?$/.test(s), {
    message: 'a + in an offset is sent as %2B in a query string (a bare + reads as a space)',
    abort: true,
  })
  .refine(
    (s) =>
      /^\d{4}-\d{2}-\d{2}(T.*)?$/.test(s) &&
      isCalendarDay(s.slice(0, 10)) &&
      !Number.isNaN(new Date(s).getTime()),
    { message: 'must be a date or an ISO 8601 instant', abort: true },
  )
  // An instant without its offset names no moment (JavaScript reads it in the server's own time
  // zone): `Z` or `+08:00`, as the body's instants take them.
  .refine((s) => s.length === 10 || /(Z|[+-]\d{2}:?\d{2})$/i.test(s), {
    message: 'an instant needs its offset: Z or +08:00 (sent as %2B08:00)',
    abort: true,
  })
  .refine((s) => isSaneInstant(new Date(s)), `must be between ${EARLIEST_DATE} and ${LATEST_DATE}`)
  .transform((s) => new Date(s));

/**
 * A whole number in a query string, in decimal digits only (`z.coerce.number` also takes `0x10`,
 * `1e2`, ` 5 ` and an empty value, which it reads as 0), within [min, max].
 */
export const queryInteger = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,16}$/, 'must be a whole number in decimal digits')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
    .openapi({ type: 'integer', minimum: min, maximum: max });

/**
 * The first parameter of a URL's query string whose name or value is not valid percent-encoding
 * of UTF-8 (`%E4%B8` cut short, `%ZZ`), or undefined. The router reads such a sequence as the
 * literal text it is (`%E4%B8` would be searched for as six characters); a route that reads its
 * query refuses it instead. Its name is given as sent when the name itself is the broken part.
 */
export function malformedQueryParameter(url: string): string | undefined {
  // A fragment is no part of the query (the router's query parser stops at it too).
  const fragment = url.indexOf('#');
  const end = fragment < 0 ? url.length : fragment;
  const start = url.indexOf('?');
  if (start < 0 || start > end) return undefined;
  const query = url.slice(start + 1, end);
  if (!query.includes('%')) return undefined;
  for (const part of query.split('&')) {
    if (!part.includes('%')) continue;
    const equals = part.indexOf('=');
    const name = equals < 0 ? part : part.slice(0, equals);
    const value = equals < 0 ? '' : part.slice(equals + 1);
    const decodedName = decodeQueryText(name);
    if (decodedName === undefined) return name;
    if (decodedName === '') continue; // a parameter without a name is no parameter
    if (decodeQueryText(value) === undefined) return decodedName;
  }
  return undefined;
}

/** application/x-www-form-urlencoded text decoded (a + is a space), or undefined when malformed. */
function decodeQueryText(text: string): string | undefined {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    return undefined;
  }
}
