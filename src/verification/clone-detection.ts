import { sql, type SQL } from 'drizzle-orm';
import type { CloneThresholds } from '../config';

/**
 * Clone detection (SPEC "Product marks": a mark verified too often, or from too many provinces or
 * too far apart within a window, is a suspected clone). It runs inside the statement that counts a
 * scan (./scan-registration.queries), on the mark row under its row lock (or on the row a first
 * scan creates), so the decision is exact
 * however many instances count scans at once. The mark keeps its own window: how many counted
 * scans since the window began (`window_scan_count`), the provinces seen with their last time
 * (`recent_provinces`) and the recent coordinates (`recent_points`). A mark is flagged when:
 *
 * - its window holds more than `maxScans` counted scans, or
 * - `maxProvinces` distinct provinces (this scan's included) were seen within `provinceWindowMs`, or
 * - this scan is more than `maxDistanceKm` (haversine) from any point seen within `distanceWindowMs`.
 *
 * The flag, once set, stays until a supervisor clears it; clearing also empties the window
 * (`clearedCloneWindow`), so the mark is judged afresh.
 */

/** Recent coordinates kept per mark: enough for any pair within the window to be compared. */
export const MAX_RECENT_POINTS = 32;
/** Mean Earth radius (IUGG), km: haversine distances. */
export const EARTH_RADIUS_KM = 6371.0088;

/** Where the statement holds each threshold (a placeholder such as `$1`, or a literal). */
export type ThresholdPlaceholders = { readonly [K in keyof CloneThresholds]: string };

/** The thresholds as statement parameters, in the order `CLONE_THRESHOLD_PLACEHOLDERS` numbers them. */
export function cloneThresholdParameters(thresholds: CloneThresholds): number[] {
  return [
    thresholds.maxScans,
    thresholds.provinceWindowMs,
    thresholds.maxProvinces,
    thresholds.maxDistanceKm,
    thresholds.distanceWindowMs,
  ];
}

/** $1 … $5, matching `cloneThresholdParameters`. */
export const CLONE_THRESHOLD_PLACEHOLDERS: ThresholdPlaceholders = {
  maxScans: '$1',
  provinceWindowMs: '$2',
  maxProvinces: '$3',
  maxDistanceKm: '$4',
  distanceWindowMs: '$5',
};

/** Where a statement reads the scan being counted: an SQL expression for each of its values. */
export interface ScanExpressions {
  /** GB/T 2260 province (two digits), or NULL. */
  readonly province: string;
  readonly lat: string;
  readonly lon: string;
  /** timestamptz */
  readonly at: string;
  /** epoch milliseconds, float8 */
  readonly atMs: string;
}

/** The scan as a row `s` with columns `province`, `lat`, `lon`, `at` and `at_ms`. */
export const SCAN_ROW_S: ScanExpressions = {
  province: 's.province',
  lat: 's.lat',
  lon: 's.lon',
  at: 's.at',
  atMs: 's.at_ms',
};

/**
 * The clone-detection columns of a mark after one more counted scan, each an SQL expression: the
 * window moved on by the scan, and the flag decided. `m` names the mark row as it was before the
 * scan (every expression reads it as it was, under its row lock), `scan` where the scan's values
 * are. A flag is never dated before the mark's last clearing (a scan timed before a supervisor
 * cleared the mark but counted after it), so the mark's history stays in order.
 */
export function cloneDetectionColumns(
  t: ThresholdPlaceholders,
  m: string,
  scan: ScanExpressions,
): Record<'window_scan_count' | 'recent_provinces' | 'recent_points' | 'clone_flagged_at', string> {
  const s = scan;
  return {
    window_scan_count: `${m}.window_scan_count + 1`,
    recent_provinces: `CASE WHEN ${s.province} IS NULL THEN ${m}.recent_provinces ELSE
    (SELECT COALESCE(jsonb_object_agg(e.k, e.v), '{}'::jsonb) FROM jsonb_each(${m}.recent_provinces) AS e(k, v)
      WHERE (e.v)::float8 > ${s.atMs} - ${t.provinceWindowMs}::float8)
    || jsonb_build_object(${s.province}, ${s.atMs}) END`,
    recent_points: `CASE WHEN ${s.lat} IS NULL OR ${s.lon} IS NULL THEN ${m}.recent_points ELSE
    (SELECT COALESCE(jsonb_agg(r.pt ORDER BY (r.pt->>2)::float8), '[]'::jsonb) FROM (
      SELECT e.pt FROM jsonb_array_elements(${m}.recent_points) AS e(pt)
      WHERE (e.pt->>2)::float8 > ${s.atMs} - ${t.distanceWindowMs}::float8
      ORDER BY (e.pt->>2)::float8 DESC LIMIT ${MAX_RECENT_POINTS - 1}) AS r)
    || jsonb_build_array(jsonb_build_array(${s.lat}, ${s.lon}, ${s.atMs})) END`,
    clone_flagged_at: `COALESCE(${m}.clone_flagged_at, CASE WHEN
    ${m}.window_scan_count + 1 > ${t.maxScans}::int
    OR (${s.province} IS NOT NULL AND 1 + (SELECT count(*) FROM jsonb_each(${m}.recent_provinces) AS e(k, v)
      WHERE (e.v)::float8 > ${s.atMs} - ${t.provinceWindowMs}::float8 AND e.k <> ${s.province}) >= ${t.maxProvinces}::int)
    OR (${s.lat} IS NOT NULL AND ${s.lon} IS NOT NULL AND EXISTS (
      SELECT 1 FROM jsonb_array_elements(${m}.recent_points) AS e(pt)
      WHERE (e.pt->>2)::float8 > ${s.atMs} - ${t.distanceWindowMs}::float8
        AND ${2 * EARTH_RADIUS_KM} * asin(sqrt(least(1,
          power(sin(radians(${s.lat} - (e.pt->>0)::float8) / 2), 2)
          + cos(radians(${s.lat})) * cos(radians((e.pt->>0)::float8))
            * power(sin(radians(${s.lon} - (e.pt->>1)::float8) / 2), 2)))) > ${t.maxDistanceKm}::float8))
    THEN GREATEST(${s.at}, ${m}.clone_cleared_at) END)`,
  };
}

/**
 * A mark never scanned, as `cloneDetectionColumns` reads one: an empty window, no flag. Used as
 * `m` for a mark's first counted scan, whose row does not exist yet.
 */
export const NEVER_SCANNED_MARK = `(SELECT 0 AS window_scan_count, '{}'::jsonb AS recent_provinces,
  '[]'::jsonb AS recent_points, NULL::timestamptz AS clone_flagged_at,
  NULL::timestamptz AS clone_cleared_at)`;

/** An empty clone window (a supervisor cleared the flag): the mark is judged afresh from here. */
export function clearedCloneWindow(): {
  windowScanCount: number;
  recentProvinces: SQL;
  recentPoints: SQL;
} {
  return { windowScanCount: 0, recentProvinces: sql`'{}'::jsonb`, recentPoints: sql`'[]'::jsonb` };
}
