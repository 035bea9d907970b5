/**
 * Calendar days in China Standard Time (UTC+8, no daylight saving): certificate validity dates
 * are days as printed on the certificate, so "today" is judged where they are issued.
 */
const CST_OFFSET_MS = 8 * 3_600_000;

export function chinaDay(at: Date): string {
  return new Date(at.getTime() + CST_OFFSET_MS).toISOString().slice(0, 10);
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
 * The days and instants this service takes from outside: 1900-01-01 to 9999-12-31 (UTC). Earlier
 * dates are typing errors (no certificate in this system predates 1900; historical records are
 * welcome after it), and later ones lose their four-digit year in ISO 8601 and the credential's
 * `validUntil`. Within the range every date survives JavaScript, JOSE and PostgreSQL alike.
 */
export const EARLIEST_DATE = '1900-01-01';
export const LATEST_DATE = '9999-12-31';

/** Whether an instant lies within {@link EARLIEST_DATE} … {@link LATEST_DATE} (UTC). */
export function isSaneInstant(at: Date): boolean {
  const time = at.getTime();
  return (
    !Number.isNaN(time) &&
    time >= Date.parse(`${EARLIEST_DATE}T00:00:00Z`) &&
    time <= Date.parse(`${LATEST_DATE}T23:59:59.999Z`)
  );
}
