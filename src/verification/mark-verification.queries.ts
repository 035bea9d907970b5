import { eq } from 'drizzle-orm';
import type { Database, Queryable } from '../db/client';
import { clientQuery } from '../db/client';
import { markBatches } from '../db/schema/mark-batches';
import { marks } from '../db/schema/marks';
import type { CertificateStatus } from '../db/schema/certificates';
import { signingKeys } from '../db/schema/signing-keys';

/**
 * The queries of mark verification: the published keys a code is checked against, the one
 * statement that counts a scan on its mark (and decides its clone flag), the slow explanation of a
 * miss, and the scan log's writes.
 */

/** Signing keys with their 3-byte mark key id (all, or those with `markKeyId`), for picking a code's candidates. */
export async function listMarkKeys(db: Queryable, markKeyId?: string) {
  return db
    .select({
      kid: signingKeys.kid,
      issuerId: signingKeys.issuerId,
      markKeyId: signingKeys.markKeyId,
      publicKey: signingKeys.publicKey,
      status: signingKeys.status,
    })
    .from(signingKeys)
    .where(markKeyId === undefined ? undefined : eq(signingKeys.markKeyId, markKeyId));
}

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

/** The clone-detection thresholds (config.clone). */
export interface CloneRules {
  maxScans: number;
  maxProvinces: number;
  provinceWindowMs: number;
  maxDistanceKm: number;
  distanceWindowMs: number;
}

/**
 * What a counted scan returns: the mark after the scan, its batch's model and lot, the signing
 * key's issuer, and the certificate's and issuer's statuses as they are now (their unchanging
 * content is cached by the caller).
 */
export interface RegisteredScan {
  serial: string;
  status: 'active' | 'void';
  scanCount: number;
  firstScanAt: Date | null;
  firstScanRegion: string | null;
  cloneFlaggedAt: Date | null;
  model: string | null;
  lot: string | null;
  keyIssuerId: string;
  certificateId: string;
  certificateStatus: CertificateStatus;
  certificateStatusReason: string | null;
  certificateStatusChangedAt: Date | null;
  remaining: number | null;
  issuerId: string;
  issuerStatus: 'active' | 'suspended';
  issuerStatusReason: string | null;
  issuerStatusChangedAt: Date | null;
}

/** Recent coordinates kept per mark: enough for any pair within the window to be compared. */
const MAX_RECENT_POINTS = 32;
/** Mean Earth radius (IUGG), km: haversine distances. */
const EARTH_RADIUS_KM = 6371.0088;

/** What a scanned mark's statements return (`RegisteredScan`), over m, b, c, i and k. */
const SCANNED_MARK_COLUMNS = `lpad(m.serial::text, 16, '0') AS "serial", m.status AS "status", m.scan_count AS "scanCount",
  m.first_scan_at AS "firstScanAt", m.first_scan_region AS "firstScanRegion", m.clone_flagged_at AS "cloneFlaggedAt",
  b.model AS "model", b.lot AS "lot", k.issuer_id AS "keyIssuerId",
  c.id AS "certificateId", c.status AS "certificateStatus", c.status_reason AS "certificateStatusReason",
  c.status_changed_at AS "certificateStatusChangedAt", c.remaining AS "remaining",
  i.id AS "issuerId", i.status AS "issuerStatus", i.status_reason AS "issuerStatusReason",
  i.status_changed_at AS "issuerStatusChangedAt"`;

/**
 * The verification hot path: counts a set of scans, each on its mark, and decides their clone flags
 * in one statement. Everything happens on the mark row under its row lock and every expression
 * reads the row as locked, so counts and flags are exact with any number of instances sharing the
 * database. No row comes back for a scan with no such mark in a finished batch, whose batch's key
 * is compromised (scanned or typed alike), or (for a signed code) whose batch was signed with
 * another key (`explainMiss` then says which). The scans travel as one JSON parameter, so the
 * statement is the same for 1 or 64.
 * A serial must appear at most once per call (UPDATE … FROM applies one source row per target row).
 *
 * Parameters: $1 max scans, $2 province window (ms), $3 max provinces, $4 max distance (km),
 * $5 distance window (ms), $6 the scans.
 */
const REGISTER_SCANS_SQL = `
UPDATE marks AS m SET
  scan_count = m.scan_count + 1,
  window_scan_count = m.window_scan_count + 1,
  last_scan_at = s.at,
  first_scan_at = COALESCE(m.first_scan_at, s.at),
  first_scan_region = CASE WHEN m.first_scan_at IS NULL THEN s.region ELSE m.first_scan_region END,
  first_scan_lat = CASE WHEN m.first_scan_at IS NULL THEN s.lat ELSE m.first_scan_lat END,
  first_scan_lon = CASE WHEN m.first_scan_at IS NULL THEN s.lon ELSE m.first_scan_lon END,
  recent_provinces = CASE WHEN s.province IS NULL THEN m.recent_provinces ELSE
    (SELECT COALESCE(jsonb_object_agg(e.k, e.v), '{}'::jsonb) FROM jsonb_each(m.recent_provinces) AS e(k, v)
      WHERE (e.v)::float8 > s.at_ms - $2::float8)
    || jsonb_build_object(s.province, s.at_ms) END,
  recent_points = CASE WHEN s.lat IS NULL OR s.lon IS NULL THEN m.recent_points ELSE
    (SELECT COALESCE(jsonb_agg(r.pt ORDER BY (r.pt->>2)::float8), '[]'::jsonb) FROM (
      SELECT e.pt FROM jsonb_array_elements(m.recent_points) AS e(pt)
      WHERE (e.pt->>2)::float8 > s.at_ms - $5::float8
      ORDER BY (e.pt->>2)::float8 DESC LIMIT ${MAX_RECENT_POINTS - 1}) AS r)
    || jsonb_build_array(jsonb_build_array(s.lat, s.lon, s.at_ms)) END,
  clone_flagged_at = COALESCE(m.clone_flagged_at, CASE WHEN
    m.window_scan_count + 1 > $1::int
    OR (s.province IS NOT NULL AND 1 + (SELECT count(*) FROM jsonb_each(m.recent_provinces) AS e(k, v)
      WHERE (e.v)::float8 > s.at_ms - $2::float8 AND e.k <> s.province) >= $3::int)
    OR (s.lat IS NOT NULL AND s.lon IS NOT NULL AND EXISTS (
      SELECT 1 FROM jsonb_array_elements(m.recent_points) AS e(pt)
      WHERE (e.pt->>2)::float8 > s.at_ms - $5::float8
        AND ${2 * EARTH_RADIUS_KM} * asin(sqrt(least(1,
          power(sin(radians(s.lat - (e.pt->>0)::float8) / 2), 2)
          + cos(radians(s.lat)) * cos(radians((e.pt->>0)::float8))
            * power(sin(radians(s.lon - (e.pt->>1)::float8) / 2), 2)))) > $4::float8))
    THEN s.at END)
FROM jsonb_to_recordset($6::jsonb)
    AS s(serial bigint, kid text, region text, province text, lat float8, lon float8, at timestamptz, at_ms float8),
  mark_batches AS b
  JOIN certificates AS c ON c.id = b.certificate_id
  JOIN issuers AS i ON i.id = c.issuer_id
  JOIN signing_keys AS k ON k.kid = b.kid
WHERE m.serial = s.serial AND b.id = m.batch_id AND b.status = 'done'
  AND k.status <> 'compromised' AND (s.kid IS NULL OR b.kid = s.kid)
RETURNING ${SCANNED_MARK_COLUMNS}`;

/**
 * A view that does not count (the same browser again within the window): the mark as
 * `REGISTER_SCANS_SQL` would return it, under the same conditions, changing nothing.
 * Parameters: $1 the serial, $2 the key whose signature was verified (null for a typed serial).
 */
const LOOKUP_SCANNED_MARK_SQL = `
SELECT ${SCANNED_MARK_COLUMNS}
FROM marks AS m
  JOIN mark_batches AS b ON b.id = m.batch_id
  JOIN certificates AS c ON c.id = b.certificate_id
  JOIN issuers AS i ON i.id = c.issuer_id
  JOIN signing_keys AS k ON k.kid = b.kid
WHERE m.serial = $1::bigint AND b.status = 'done'
  AND k.status <> 'compromised' AND ($2::text IS NULL OR b.kid = $2::text)`;

export async function registerScans(
  db: Database,
  scans: readonly ScanToRegister[],
  rules: CloneRules,
): Promise<RegisteredScan[]> {
  if (scans.length === 0) return [];
  const rows = JSON.stringify(
    scans.map((scan) => ({
      serial: scan.serial,
      kid: scan.kid,
      region: scan.region,
      province: scan.province,
      lat: scan.lat,
      lon: scan.lon,
      at: scan.at.toISOString(),
      at_ms: scan.at.getTime(),
    })),
  );
  const registered = await clientQuery<RegisteredScan & { remaining: number | string | null }>(
    db,
    'marks_register_scans',
    REGISTER_SCANS_SQL,
    [
      rules.maxScans,
      rules.provinceWindowMs,
      rules.maxProvinces,
      rules.maxDistanceKm,
      rules.distanceWindowMs,
      rows,
    ],
  );
  for (const row of registered) if (row.remaining !== null) row.remaining = Number(row.remaining);
  return registered;
}

/** The mark a scan names, as a counted scan would return it, without counting (a repeat view). */
export async function lookupScannedMark(
  db: Database,
  params: { serial: string; kid: string | null },
): Promise<RegisteredScan | undefined> {
  const [row] = await clientQuery<RegisteredScan & { remaining: number | string | null }>(
    db,
    'marks_lookup_scanned',
    LOOKUP_SCANNED_MARK_SQL,
    [params.serial, params.kid],
  );
  if (row && row.remaining !== null) row.remaining = Number(row.remaining);
  return row;
}

/**
 * Why a scan found no mark (the slow path, forgeries only): whether the serial exists in a finished
 * batch, which key (and its status) and issuer signed that batch, and the status of the key that
 * signed the code.
 */
export async function explainMiss(db: Queryable, params: { serial: string; kid: string | null }) {
  const [mark] = await db
    .select({
      batchStatus: markBatches.status,
      batchKid: markBatches.kid,
      batchKeyStatus: signingKeys.status,
      issuerId: markBatches.issuerId,
    })
    .from(marks)
    .innerJoin(markBatches, eq(markBatches.id, marks.batchId))
    .innerJoin(signingKeys, eq(signingKeys.kid, markBatches.kid))
    .where(eq(marks.serial, BigInt(params.serial)))
    .limit(1);
  const [key] = params.kid
    ? await db
        .select({ status: signingKeys.status, issuerId: signingKeys.issuerId })
        .from(signingKeys)
        .where(eq(signingKeys.kid, params.kid))
        .limit(1)
    : [];
  return { mark, key };
}

export interface ScanLogEntry {
  serial: string | null;
  at: Date;
  region: string | null;
  lat: number | null;
  lon: number | null;
  callerRole: string | null;
  channel: 'api' | 'page';
  verdict: string;
  reasons: string[];
  /** False for a repeat view that did not count toward the scan count and clone thresholds. */
  counted: boolean;
}

/**
 * Writes buffered scan log entries in one multi-row INSERT. The rows travel as one JSON parameter:
 * a few thousand rows a second must not cost a query builder's work per value.
 */
export async function insertScanLog(db: Database, entries: readonly ScanLogEntry[]): Promise<void> {
  if (entries.length === 0) return;
  const rows = JSON.stringify(
    entries.map((e) => ({
      serial: e.serial,
      at: e.at.toISOString(),
      region: e.region,
      lat: e.lat,
      lon: e.lon,
      caller_role: e.callerRole,
      channel: e.channel,
      verdict: e.verdict,
      reasons: e.reasons,
      counted: e.counted,
    })),
  );
  await clientQuery(
    db,
    'marks_insert_scan_log',
    `INSERT INTO mark_scans (serial, at, region, lat, lon, caller_role, channel, verdict, reasons, counted)
     SELECT serial, at, region, lat, lon, caller_role, channel, verdict, reasons, counted
     FROM jsonb_to_recordset($1::jsonb) AS s(serial bigint, at timestamptz, region text, lat float8, lon float8,
       caller_role text, channel text, verdict text, reasons text[], counted boolean)`,
    [rows],
  );
}
