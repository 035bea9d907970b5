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
