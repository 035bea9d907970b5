import { and, asc, count, desc, eq, gt, inArray, sql } from 'drizzle-orm';
import type { Database, Queryable } from '../db/client';
import { rowsOf } from '../db/client';
import { certificates, type CertificateStatus } from '../db/schema/certificates';
import { markBatches, type MarkBatchRow, type MarkBatchStatus } from '../db/schema/mark-batches';
import { markScans } from '../db/schema/mark-scans';
import { marks } from '../db/schema/marks';
import { signingKeys } from '../db/schema/signing-keys';

/** Serials travel as 16-digit strings (leading zeros kept) and are stored as bigint. */
export const serialText = (value: bigint | string | number): string =>
  String(value).padStart(16, '0');

/** Rows an INSERT/UPDATE touched, whichever driver ran it (pg: rowCount, PGlite: affectedRows). */
function affectedRows(result: unknown): number {
  const r = result as { rowCount?: number | null; affectedRows?: number };
  return Number(r.rowCount ?? r.affectedRows ?? 0);
}

// ---------------------------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------------------------

export async function insertBatch(
  db: Queryable,
  row: typeof markBatches.$inferInsert,
): Promise<MarkBatchRow> {
  const [inserted] = await db.insert(markBatches).values(row).returning();
  return inserted!;
}

export async function findBatch(db: Queryable, id: string): Promise<MarkBatchRow | undefined> {
  const [row] = await db.select().from(markBatches).where(eq(markBatches.id, id)).limit(1);
  return row;
}

/** Batches a job should be filling: pending or running (their runner may have died). */
export async function unfinishedBatchIds(db: Queryable): Promise<string[]> {
  const rows = await db
    .select({ id: markBatches.id })
    .from(markBatches)
    .where(inArray(markBatches.status, ['pending', 'running']))
    .orderBy(asc(markBatches.createdAt));
  return rows.map((r) => r.id);
}

/** A runner started filling the batch. */
export async function startBatch(db: Queryable, id: string): Promise<void> {
  await db
    .update(markBatches)
    .set({ status: 'running' })
    .where(and(eq(markBatches.id, id), eq(markBatches.status, 'pending')));
}

/**
 * Ends a running batch: `done` only when every mark is written, `failed` at any time. A batch that
 * already ended stays as it is (undefined is returned), so two runners cannot both end it.
 */
export async function endBatch(
  tx: Queryable,
  params: { id: string; status: 'done' | 'failed'; at: Date; error: string | null },
): Promise<{ done: number } | undefined> {
  const [ended] = await tx
    .update(markBatches)
    .set({ status: params.status, finishedAt: params.at, error: params.error })
    .where(
      and(
        eq(markBatches.id, params.id),
        inArray(markBatches.status, ['pending', 'running']),
        params.status === 'done' ? eq(markBatches.done, markBatches.count) : undefined,
      ),
    )
    .returning({ done: markBatches.done });
  return ended;
}

export interface BatchFillState {
  count: number;
  done: number;
  status: MarkBatchStatus;
  certificateId: string;
  /** The highest ordinal written so far (0 when none). */
  lastOrdinal: number;
}

/**
 * Locks the batch row for one chunk of writes. Every chunk takes this lock before inserting, so
 * two runners of one batch (a resumed job while the old one still lives) can never write more
 * than `count` marks between them.
 */
export async function lockBatchForFill(
  tx: Queryable,
  batchId: string,
): Promise<BatchFillState | undefined> {
  const [batch] = await tx
    .select({
      count: markBatches.count,
      done: markBatches.done,
      status: markBatches.status,
      certificateId: markBatches.certificateId,
    })
    .from(markBatches)
    .where(eq(markBatches.id, batchId))
    .for('update')
    .limit(1);
  if (!batch) return undefined;
  const [last] = rowsOf<{ ordinal: number | string | null }>(
    await tx.execute(
      sql`SELECT max(${marks.ordinal}) AS ordinal FROM ${marks} WHERE ${marks.batchId} = ${batchId}`,
    ),
  );
  return { ...batch, lastOrdinal: Number(last?.ordinal ?? 0) };
}

/**
 * Writes one chunk of marks in a single statement (the serials travel as one array parameter, so
 * the statement is the same for 10 or 10,000 rows) and advances the batch's `done` by what was
 * really written. A serial that already exists is skipped (ON CONFLICT DO NOTHING): the caller
 * tops the shortfall up with fresh serials. Returns the number written.
 */
export async function insertMarkChunk(
  tx: Queryable,
  params: {
    batchId: string;
    certificateId: string;
    serials: readonly string[];
    firstOrdinal: number;
  },
): Promise<number> {
  if (params.serials.length === 0) return 0;
  const serialArray = `{${params.serials.join(',')}}`;
  const result = await tx.execute(sql`
    INSERT INTO ${marks} (serial, batch_id, certificate_id, ordinal)
    SELECT s.serial, ${params.batchId}::uuid, ${params.certificateId}::uuid, ${params.firstOrdinal}::int + s.n::int - 1
    FROM unnest(${serialArray}::bigint[]) WITH ORDINALITY AS s(serial, n)
    ON CONFLICT (serial) DO NOTHING`);
  const written = affectedRows(result);
  if (written > 0) {
    await tx
      .update(markBatches)
      .set({ done: sql`${markBatches.done} + ${written}` })
      .where(eq(markBatches.id, params.batchId));
  }
  return written;
}

/** Marks of a batch in issuance order, after `afterOrdinal` (keyset pagination). */
export async function batchMarksAfter(
  db: Queryable,
  params: { batchId: string; afterOrdinal: number; limit: number },
): Promise<{ serial: string; ordinal: number }[]> {
  const rows = await db
    .select({ serial: marks.serial, ordinal: marks.ordinal })
    .from(marks)
    .where(and(eq(marks.batchId, params.batchId), gt(marks.ordinal, params.afterOrdinal)))
    .orderBy(asc(marks.ordinal))
    .limit(params.limit);
  return rows.map((r) => ({ serial: serialText(r.serial), ordinal: r.ordinal }));
}

/** One page of a batch's marks in issuance order (label sheets). */
export async function batchMarksPage(
  db: Queryable,
  params: { batchId: string; offset: number; limit: number },
): Promise<string[]> {
  const rows = await db
    .select({ serial: marks.serial })
    .from(marks)
    .where(eq(marks.batchId, params.batchId))
    .orderBy(asc(marks.ordinal))
    .offset(params.offset)
    .limit(params.limit);
  return rows.map((r) => serialText(r.serial));
}

// ---------------------------------------------------------------------------------------------
// One mark (issuer side)
// ---------------------------------------------------------------------------------------------

/** A mark with what its owner needs: the batch (key, issuer) and the certificate number. */
export async function findMarkWithBatch(db: Queryable, serial: string) {
  const [row] = await db
    .select({
      serial: marks.serial,
      status: marks.status,
      batchId: marks.batchId,
      certificateId: marks.certificateId,
      kid: markBatches.kid,
      issuerId: markBatches.issuerId,
      batchStatus: markBatches.status,
      certificateNumber: certificates.number,
      scanCount: marks.scanCount,
      cloneFlaggedAt: marks.cloneFlaggedAt,
    })
    .from(marks)
    .innerJoin(markBatches, eq(markBatches.id, marks.batchId))
    .innerJoin(certificates, eq(certificates.id, marks.certificateId))
    .where(eq(marks.serial, BigInt(serial)))
    .limit(1);
  return row ? { ...row, serial: serialText(row.serial) } : undefined;
}

export async function lockMark(tx: Queryable, serial: string) {
  const [row] = await tx
    .select({ status: marks.status, batchId: marks.batchId, issuerId: markBatches.issuerId })
    .from(marks)
    .innerJoin(markBatches, eq(markBatches.id, marks.batchId))
    .where(eq(marks.serial, BigInt(serial)))
    .for('update', { of: marks })
    .limit(1);
  return row;
}

export async function voidMark(
  tx: Queryable,
  params: { serial: string; reason: string; at: Date },
): Promise<void> {
  await tx
    .update(marks)
    .set({ status: 'void', voidReason: params.reason, voidedAt: params.at })
    .where(eq(marks.serial, BigInt(params.serial)));
}

/**
 * A supervisor cleared a suspected clone: the flag goes, and so does the counting window, so the
 * mark is judged afresh from here (its total scan count and first scan stay).
 */
export async function clearCloneFlag(
  tx: Queryable,
  params: { serial: string; at: Date },
): Promise<boolean> {
  const result = await tx
    .update(marks)
    .set({
      cloneFlaggedAt: null,
      cloneClearedAt: params.at,
      windowScanCount: 0,
      recentProvinces: sql`'{}'::jsonb`,
      recentPoints: sql`'[]'::jsonb`,
    })
    .where(eq(marks.serial, BigInt(params.serial)))
    .returning({ serial: marks.serial });
  return result.length > 0;
}

// ---------------------------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------------------------

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

interface ClientLike {
  query(
    config: { name?: string; text: string; values: unknown[] } | string,
    values?: unknown[],
  ): Promise<{ rows: unknown[] }>;
}

/**
 * Runs one hand-written statement on the driver's own client: node-postgres prepares it once per
 * connection under `name` (no parse or plan per call); PGlite runs it as it is.
 */
async function clientQuery<T>(
  db: Database,
  name: string,
  text: string,
  values: unknown[],
): Promise<T[]> {
  const client = (db as unknown as { $client: ClientLike & { totalCount?: number } }).$client;
  const result =
    typeof client.totalCount === 'number'
      ? await client.query({ name, text, values })
      : await client.query(text, values);
  return result.rows as T[];
}

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

// ---------------------------------------------------------------------------------------------
// Scan log
// ---------------------------------------------------------------------------------------------

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

/** A page of a mark's scan log, newest first, and how many entries it has in all. */
export async function scanLogPage(
  db: Queryable,
  params: { serial: string; limit: number; offset: number },
) {
  const bySerial = eq(markScans.serial, BigInt(params.serial));
  const [rows, [total]] = await Promise.all([
    db
      .select()
      .from(markScans)
      .where(bySerial)
      .orderBy(desc(markScans.at), desc(markScans.id))
      .limit(params.limit)
      .offset(params.offset),
    db.select({ n: count() }).from(markScans).where(bySerial),
  ]);
  return { rows, total: total?.n ?? 0 };
}

export interface RecentScan {
  serial: string;
  at: Date;
  region: string | null;
  lat: number | null;
  lon: number | null;
  channel: string;
  verdict: string;
}

/** The latest `perMark` scans of each of `serials`, newest first (the supervisor's page). */
export async function recentScansOf(
  db: Queryable,
  params: { serials: readonly string[]; perMark: number },
): Promise<RecentScan[]> {
  if (params.serials.length === 0) return [];
  const serialArray = `{${params.serials.join(',')}}`;
  const rows = rowsOf<RecentScan & { at: Date | string }>(
    await db.execute(sql`
      SELECT lpad(s.serial::text, 16, '0') AS serial, r.at, r.region, r.lat, r.lon, r.channel, r.verdict
      FROM unnest(${serialArray}::bigint[]) AS s(serial)
      CROSS JOIN LATERAL (
        SELECT at, region, lat, lon, channel, verdict FROM ${markScans}
        WHERE ${markScans.serial} = s.serial
        ORDER BY at DESC, id DESC LIMIT ${params.perMark}
      ) AS r
      ORDER BY s.serial, r.at DESC`),
  );
  return rows.map((r) => ({ ...r, at: new Date(r.at) }));
}

export async function scanLogOf(db: Queryable, serial: string) {
  return db
    .select()
    .from(markScans)
    .where(eq(markScans.serial, BigInt(serial)))
    .orderBy(asc(markScans.at), asc(markScans.id));
}
