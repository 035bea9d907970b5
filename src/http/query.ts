import { z } from '@hono/zod-openapi';
import { EARLIEST_DATE, isSaneInstant, LATEST_DATE } from '../shared/dates';

/**
 * `since=` in a query string: a calendar day (`2026-11-24`, its start in UTC) or an ISO 8601
 * instant (`2026-11-24T08:00:00+08:00`), parsed to a Date.
 */
export const sinceParam = z
  .string()
  .refine(
    (s) => /^\d{4}-\d{2}-\d{2}(T.*)?$/.test(s) && !Number.isNaN(new Date(s).getTime()),
    'must be a date or an ISO 8601 instant',
  )
  .refine((s) => isSaneInstant(new Date(s)), `must be between ${EARLIEST_DATE} and ${LATEST_DATE}`)
  .transform((s) => new Date(s));
