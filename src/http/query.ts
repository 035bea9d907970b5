import { z } from '@hono/zod-openapi';
import { EARLIEST_DATE, isCalendarDay, isSaneInstant, LATEST_DATE } from '../shared/dates';

/**
 * `since=` in a query string: a calendar day (`2026-11-24`, its start in UTC) or an ISO 8601
 * instant (`2026-11-24T08:00:00+08:00`), parsed to a Date.
 */
export const sinceParam = z
  .string()
  .refine(
    (s) =>
      /^\d{4}-\d{2}-\d{2}(T.*)?$/.test(s) &&
      isCalendarDay(s.slice(0, 10)) &&
      !Number.isNaN(new Date(s).getTime()),
    'must be a date or an ISO 8601 instant',
  )
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
