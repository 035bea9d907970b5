/**
 * Calendar days in China Standard Time (UTC+8, no daylight saving): certificate validity dates
 * are days as printed on the certificate, so "today" is judged where they are issued.
 */
const CST_OFFSET_MS = 8 * 3_600_000;

const DAY_MS = 86_400_000;

/** The last day asked for, as the instants it spans: every verification asks for today's. */
let lastDay = { from: 0, until: 0, day: '1970-01-01' };

export function chinaDay(at: Date): string {
  const t = at.getTime();
  if (t >= lastDay.from && t < lastDay.until) return lastDay.day;
  const day = new Date(t + CST_OFFSET_MS).toISOString().slice(0, 10); // throws for an invalid date
  const from = Math.floor((t + CST_OFFSET_MS) / DAY_MS) * DAY_MS - CST_OFFSET_MS;
  lastDay = { from, until: from + DAY_MS, day };
  return day;
}

/**
 * An instant as a reader in China reads it, in China Standard Time, the one way every page writes
 * a time: to the minute (consumers) or to the second (supervisors, who compare scans), with the
 * zone said in the reader's language.
 *
 * @example chinaTime('2026-11-24T10:00:00Z', 'zh') // '2026-11-24 18:00 (北京时间)'
 * @example chinaTime('2026-11-24T10:00:00Z', 'en', { seconds: true }) // '2026-11-24 18:00:00 China Standard Time'
 */
export function chinaTime(
  at: Date | string,
  lang: 'zh' | 'en',
  options: { seconds?: boolean } = {},
): string {
  const local = new Date(new Date(at).getTime() + CST_OFFSET_MS).toISOString();
  const time = local.slice(11, options.seconds ? 19 : 16);
  return `${local.slice(0, 10)} ${time} ${lang === 'zh' ? '(北京时间)' : 'China Standard Time'}`;
}

/** The first instant of a day in China Standard Time. */
export function startOfChinaDay(day: string): Date {
  return new Date(`${day}T00:00:00+08:00`);
}

/** The last millisecond of a day in China Standard Time. */
export function endOfChinaDay(day: string): Date {
  return new Date(new Date(`${day}T00:00:00+08:00`).getTime() + 86_400_000 - 1);
}

/**
 * The last `count` days in China Standard Time up to the day of `now`, oldest first, and the
 * instants they span ([since, until)): a trend's x axis.
 */
export function chinaDays(now: Date, count: number): { days: string[]; since: Date; until: Date } {
  const today = startOfChinaDay(chinaDay(now)).getTime();
  const days = Array.from({ length: count }, (_, i) =>
    chinaDay(new Date(today - (count - 1 - i) * 86_400_000)),
  );
  return {
    days,
    since: new Date(today - (count - 1) * 86_400_000),
    until: new Date(today + 86_400_000),
  };
}

/**
 * The days and instants this service takes from outside: 1900-01-01 to 9999-12-31 (UTC). Earlier
 * dates are typing errors (no certificate in this system predates 1900; historical records are
 * welcome after it), and later ones lose their four-digit year in ISO 8601 and the credential's
 * `validUntil`. Within the range every date survives JavaScript, JOSE and PostgreSQL alike.
 */
export const EARLIEST_DATE = '1900-01-01';
export const LATEST_DATE = '9999-12-31';

/**
 * Whether `YYYY-MM-DD` is a day of the calendar (the Date parser takes 2026-02-30 for 2 March).
 */
export function isCalendarDay(day: string): boolean {
  const at = new Date(`${day}T00:00:00Z`);
  return !Number.isNaN(at.getTime()) && at.toISOString().slice(0, 10) === day;
}

/**
 * Whether an instant lies within {@link EARLIEST_DATE} … {@link LATEST_DATE} in China Standard
 * Time: every instant is judged by its day in China ({@link chinaDay}), and the last eight hours
 * of 9999-12-31 UTC are already 10000-01-01 there, a day no four-digit comparison orders
 * correctly (it read as before every validity day: NOT_YET_VALID instead of EXPIRED). Likewise
 * 1900-01-01T00:00+08:00 is an instant of 1900-01-01 and is taken, as the bare day is.
 */
export function isSaneInstant(at: Date): boolean {
  const time = at.getTime();
  return (
    !Number.isNaN(time) &&
    time >= startOfChinaDay(EARLIEST_DATE).getTime() &&
    time <= endOfChinaDay(LATEST_DATE).getTime()
  );
}
