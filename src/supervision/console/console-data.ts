import type { AlertSeverity } from '../../db/schema/alerts';

/**
 * What the supervisor console's charts draw, as the page carries it (a JSON data block, read by
 * ./console.entry.ts in the browser): every figure already counted and every word already in the
 * page's language, so the script only draws.
 */
export interface ConsoleData {
  lang: 'zh' | 'en';
  words: Record<AlertSeverity, string> & {
    checks: string;
    notAuthentic: string;
    alertsAxis: string;
    checksAxis: string;
    scanOrder: string;
  };
  /** Every province of the map, by the name its geometry carries (the Chinese short name). */
  provinces: ({ name: string; label: string } & Record<AlertSeverity, number>)[];
  /** Alerts opened and marks checked per day (China Standard Time), oldest first. */
  trend: { days: string[]; checks: number[]; notAuthentic: number[] } & Record<
    AlertSeverity,
    number[]
  >;
  /** Suspected clones: each mark's latest checks, oldest first, where and when. */
  clones: {
    serial: string;
    scans: {
      /** As the page writes it (China Standard Time). */
      at: string;
      /** GB/T 2260 province code, when the check named a region. */
      province: string | null;
      lat: number | null;
      lon: number | null;
    }[];
  }[];
}
