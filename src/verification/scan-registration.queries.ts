import type { CloneThresholds } from '../config';
import type { SerialLocation } from '../crypto/mark-serial-cipher';
import type { Database } from '../db/client';
import { clientQuery } from '../db/client';
import { rowVersionOf } from './mark-verification.queries';
import {
  LOCATED_AT_1_2_3,
  locatedMarkSql,
  locatedValues,
  type LocatedSerial,
} from '../marks/mark.queries';
import {
  CLONE_THRESHOLD_PLACEHOLDERS,
  cloneDetectionColumns,
  cloneThresholdParameters,
  NEVER_SCANNED_MARK,
  SCAN_ROW_S,
  type ScanExpressions,
} from './clone-detection';

/**
 * Scan registration: the verification hot path's one statement, which counts scans on their marks
 * and runs clone detection on each, and the same lookup without counting (a repeat view).
 */

/** One verification to count on its mark. */
export interface ScanToRegister {
  serial: string;
  /** The key whose signature was verified; null for a typed serial (no signature). */
  kid: string | null;
  at: Date;
  region: string | null;
  province: string | null;
  lat: number | null;
  lon: number | null;
}

/**
 * What a counted scan returns: the mark after the scan, its batch (whose model, lot, certificate
 * and signing key never change: the caller keeps them, ./mark-batch-facts) and the row versions of
 * its certificate and issuer as they are now (the caller keeps their content under those versions,
 * ./certificate-versions). A row is the statement's output per scan, so every column costs each
 * scan its parsing: what is the same scan after scan is not re-read.
 */
export interface RegisteredScan {
  serial: string;
  status: 'active' | 'void';
  scanCount: number;
  firstScanAt: Date | null;
  firstScanRegion: string | null;
  cloneFlaggedAt: Date | null;
  batchId: string;
  /** The certificate's and its issuer's row versions (./certificate-versions). */
  certificateVersion: string;
  issuerVersion: string;
}

/** What a scanned mark's statements return (`RegisteredScan`), over m, c and i. */
const SCANNED_MARK_COLUMNS = `lpad(m.serial::text, 16, '0') AS "serial", m.status AS "status", m.scan_count AS "scanCount",
  m.first_scan_at AS "firstScanAt", m.first_scan_region AS "firstScanRegion", m.clone_flagged_at AS "cloneFlaggedAt",
  m.batch_id AS "batchId", ${rowVersionOf('c')} AS "certificateVersion", ${rowVersionOf('i')} AS "issuerVersion"`;

/** A mark's first counted scan: clone detection on a mark never scanned, the scan in row `s`. */
const FIRST_SCAN = cloneDetectionColumns(CLONE_THRESHOLD_PLACEHOLDERS, 'fresh', SCAN_ROW_S);

/**
 * A later scan, read back from the row the statement proposed to insert (`EXCLUDED`, which holds
 * the scan as a first scan would have written it): its time, place and province.
 */
const SCAN_PROPOSED: ScanExpressions = {
  province: '(SELECT p FROM jsonb_object_keys(EXCLUDED.recent_provinces) AS p)',
  lat: 'EXCLUDED.first_scan_lat',
  lon: 'EXCLUDED.first_scan_lon',
  at: 'EXCLUDED.last_scan_at',
  atMs: '(extract(epoch FROM EXCLUDED.last_scan_at) * 1000)::float8',
};
const LATER_SCAN = cloneDetectionColumns(CLONE_THRESHOLD_PLACEHOLDERS, 'm', SCAN_PROPOSED);

/**
 * The verification hot path: counts a set of scans, each on its mark, and decides their clone flags
 * in one statement. A mark scanned before has a row: the scan is counted on it under its row lock
 * and every expression reads the row as locked (ON CONFLICT … DO UPDATE). A mark's first scan
 * creates its row, from the batch its serial locates (a numbered batch writes no row per mark).
 * Either way counts and flags are exact with any number of instances sharing the database (two
 * first scans of one mark at once: the second waits for the first's row and counts on it). No row
 * comes back for a scan with no such mark in a finished batch, whose batch's key is compromised
 * (scanned or typed alike), or (for a signed code) whose batch was signed with another key
 * (`explainMiss` then says which). The scans travel as one JSON parameter, so the statement is the
 * same for 1 or 64; rows are written in serial order, the order every statement locks marks in.
 * A serial must appear at most once per call (a row is inserted or updated once per statement).
 *
 * Parameters: $1 … $5 the clone thresholds (./clone-detection), $6 the scans.
 */
const REGISTER_SCANS_SQL = `
WITH s AS MATERIALIZED (
  -- Each scan's batch: the numbered batch its serial locates (a small table, found by its number),
  -- or, for a serial of a batch issued before positional serials (whose batch numbers are never
  -- given), its row's. The rows of marks are not read otherwise: a scanned mark's row is found by
  -- the INSERT's arbiter index, so no plan of this statement scans them, whatever their statistics.
  -- Materialized, so batches are then joined by their key.
  SELECT s.*, COALESCE(
      (SELECT nb.id FROM mark_batches AS nb
        WHERE nb.number = s.batch_number AND s.position < nb.count),
      (SELECT older.batch_id FROM marks AS older WHERE older.serial = s.serial)) AS batch_id
  FROM jsonb_to_recordset($6::jsonb) AS s(serial bigint, batch_number bigint, position int,
      kid text, region text, province text, lat float8, lon float8, at timestamptz, at_ms float8)
), counted AS (
  INSERT INTO marks AS m (serial, batch_id, ordinal, certificate_id, scan_count, last_scan_at,
    first_scan_at, first_scan_region, first_scan_lat, first_scan_lon,
    window_scan_count, recent_provinces, recent_points, clone_flagged_at)
  SELECT s.serial, b.id, s.position + 1, b.certificate_id, 1, s.at,
    s.at, s.region, s.lat, s.lon,
    ${FIRST_SCAN.window_scan_count}, ${FIRST_SCAN.recent_provinces},
    ${FIRST_SCAN.recent_points}, ${FIRST_SCAN.clone_flagged_at}
  FROM s
    JOIN mark_batches AS b ON b.id = s.batch_id
    JOIN signing_keys AS k ON k.kid = b.kid
    CROSS JOIN ${NEVER_SCANNED_MARK} AS fresh
  WHERE b.status = 'done' AND k.status <> 'compromised' AND (s.kid IS NULL OR b.kid = s.kid)
  ORDER BY s.serial
  ON CONFLICT (serial) DO UPDATE SET
    scan_count = m.scan_count + 1,
    last_scan_at = EXCLUDED.last_scan_at,
    first_scan_at = COALESCE(m.first_scan_at, EXCLUDED.first_scan_at),
    first_scan_region = CASE WHEN m.first_scan_at IS NULL THEN EXCLUDED.first_scan_region ELSE m.first_scan_region END,
    first_scan_lat = CASE WHEN m.first_scan_at IS NULL THEN EXCLUDED.first_scan_lat ELSE m.first_scan_lat END,
    first_scan_lon = CASE WHEN m.first_scan_at IS NULL THEN EXCLUDED.first_scan_lon ELSE m.first_scan_lon END,
    window_scan_count = ${LATER_SCAN.window_scan_count},
    recent_provinces = ${LATER_SCAN.recent_provinces},
    recent_points = ${LATER_SCAN.recent_points},
    clone_flagged_at = ${LATER_SCAN.clone_flagged_at}
  RETURNING m.serial, m.batch_id, m.status, m.scan_count, m.first_scan_at, m.first_scan_region,
    m.clone_flagged_at
)
SELECT ${SCANNED_MARK_COLUMNS}
FROM counted AS m
  JOIN mark_batches AS b ON b.id = m.batch_id
  JOIN certificates AS c ON c.id = b.certificate_id
  JOIN issuers AS i ON i.id = c.issuer_id`;

/**
 * A view that does not count (the same browser again within the window): the mark as
 * `REGISTER_SCANS_SQL` would return it, under the same conditions, changing nothing.
 * Parameters: $1 … $3 the located serial, $4 the key whose signature was verified (null for a
 * typed serial).
 */
const LOOKUP_SCANNED_MARK_SQL = `
SELECT ${SCANNED_MARK_COLUMNS}
FROM ${locatedMarkSql(LOCATED_AT_1_2_3)} AS m
  JOIN mark_batches AS b ON b.id = m.batch_id
  JOIN certificates AS c ON c.id = b.certificate_id
  JOIN issuers AS i ON i.id = c.issuer_id
  JOIN signing_keys AS k ON k.kid = b.kid
WHERE b.status = 'done'
  AND k.status <> 'compromised' AND ($4::text IS NULL OR b.kid = $4::text)`;

/**
 * Counts `scans` on their marks ({@link REGISTER_SCANS_SQL}); `locations[k]` is where `scans[k]`'s
 * serial points (its batch number and position), side by side so that no merged copy of each scan
 * is made on the hot path.
 */
export async function registerScans(
  db: Database,
  scans: readonly ScanToRegister[],
  locations: readonly SerialLocation[],
  thresholds: CloneThresholds,
): Promise<RegisteredScan[]> {
  if (scans.length === 0) return [];
  if (locations.length !== scans.length) throw new Error('registerScans: one location per scan');
  const rows = JSON.stringify(
    scans.map((scan, k) => ({
      serial: scan.serial,
      batch_number: locations[k]!.batchNumber,
      position: locations[k]!.position,
      kid: scan.kid,
      region: scan.region,
      province: scan.province,
      lat: scan.lat,
      lon: scan.lon,
      at: scan.at.toISOString(),
      at_ms: scan.at.getTime(),
    })),
  );
  return clientQuery<RegisteredScan>(db, 'marks_register_scans', REGISTER_SCANS_SQL, [
    ...cloneThresholdParameters(thresholds),
    rows,
  ]);
}

/** The mark a scan names, as a counted scan would return it, without counting (a repeat view). */
export async function lookupScannedMark(
  db: Database,
  params: LocatedSerial & { kid: string | null },
): Promise<RegisteredScan | undefined> {
  const [row] = await clientQuery<RegisteredScan>(
    db,
    // Planned at each call: it reads marks by serial (see clientQuery).
    undefined,
    LOOKUP_SCANNED_MARK_SQL,
    [...locatedValues(params), params.kid],
  );
  return row;
}
