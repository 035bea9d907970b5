import { z } from '@hono/zod-openapi';
import { EARLIEST_DATE, isSaneInstant, LATEST_DATE } from '../shared/dates';

/**
 * `since=` in a query string: a calendar day (`2026-11-24`, its start in UTC) or an ISO 8601
 * instant (`2026-11-24T08:00:00+08:00`), parsed to a Date.
 */
export const sinceParam = z
  .string()
  .refine(
    (s) =>
      /^\d{4}-\d{2}-\d{2}(T.*)?$/.test(s) &&
      isCalendarDate(s) &&
      !Number.isNaN(new Date(s).getTime()),
    'must be a date or an ISO 8601 instant',
  )
  .refine((s) => isSaneInstant(new Date(s)), `must be between ${EARLIEST_DATE} and ${LATEST_DATE}`)
  .transform((s) => new Date(s));

/**
 * Whether the YYYY-MM-DD a string starts with is a day of the calendar: the Date parser takes
 * 2026-02-30 for 2 March.
 */
function isCalendarDate(s: string): boolean {
  const [year, month, day] = s.slice(0, 10).split('-').map(Number) as [number, number, number];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

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
