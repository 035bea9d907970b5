import { count, desc, eq, sql } from 'drizzle-orm';
import type { Database, Queryable } from '../db/client';
import { chinaDayWithin, clientQuery, rowsOf } from '../db/client';
import { markScans } from '../db/schema/mark-scans';

/**
 * The scan log (`mark_scans`): the writer that verification's buffer flushes into, a mark's history
 * for its issuer, and the latest scans of many marks for supervisors.
 */

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

/** Checks of marks on one day in China Standard Time. */
export interface DailyChecks {
  /** YYYY-MM-DD, China Standard Time. */
  day: string;
  checks: number;
  /** Of them, those answered other than authentic. */
  notAuthentic: number;
}

/**
 * Checks of marks that counted (a repeat view of a mark's page from the same browser is logged but
 * does not count: src/web/repeat-views.ts) per day (China Standard Time, UTC+8 with no daylight saving: ../shared/dates.ts)
 * from `since` until `until`, days without checks left out. The range names `at`, the partition
 * key, so only the months it covers are read.
 */
export async function dailyChecks(
  db: Queryable,
  params: { since: Date; until: Date },
): Promise<DailyChecks[]> {
  const { day, within } = chinaDayWithin(markScans.at, params);
  const rows = rowsOf<DailyChecks>(
    await db.execute(sql`
      SELECT ${day} AS day, count(*)::int AS checks,
             (count(*) FILTER (WHERE ${markScans.verdict} <> 'authentic'))::int AS "notAuthentic"
      FROM ${markScans} WHERE ${within} AND ${markScans.counted}
      GROUP BY 1
      ORDER BY 1`),
  );
  return rows.map((r) => ({
    day: r.day,
    checks: Number(r.checks),
    notAuthentic: Number(r.notAuthentic),
  }));
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

/** Creates the scan log's partition of the month holding `instant` unless it exists (migration 0010). */
export async function ensureScanLogMonth(db: Database, instant: Date): Promise<boolean> {
  const [row] = rowsOf<{ created: boolean }>(
    await db.execute(
      sql`SELECT mark_scans_ensure_month(${instant.toISOString()}::timestamptz) AS created`,
    ),
  );
  return row?.created === true;
}

/**
 * Whether an INSERT into the scan log failed for want of a partition for its month (a clock far
 * from now, or a month dropped by retention): PostgreSQL's "no partition of relation … found for row".
 */
export function isMissingScanLogPartition(error: unknown): boolean {
  const e = error as { code?: unknown; cause?: { code?: unknown } };
  return (e.code ?? e.cause?.code) === '23514';
}

export interface ScanLogPartition {
  name: string;
  /** A DETACH … CONCURRENTLY began and did not finish (its session ended): FINALIZE it. */
  detachPending: boolean;
}

/** The scan log's partitions. */
export async function scanLogPartitions(db: Database): Promise<ScanLogPartition[]> {
  return rowsOf<ScanLogPartition>(
    await db.execute(sql`
      SELECT c.relname AS name, i.inhdetachpending AS "detachPending"
      FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'mark_scans'::regclass
      ORDER BY c.relname`),
  );
}

/** A partition name as it may appear in a statement: only names this module creates. */
function partitionIdentifier(name: string): string {
  if (!/^mark_scans_[a-z0-9_]+$/.test(name)) throw new Error('not a scan log partition name');
  return `"${name}"`;
}

/**
 * Detaches a partition without blocking the scan log: CONCURRENTLY waits for the transactions
 * using it and takes only a SHARE UPDATE EXCLUSIVE lock on mark_scans (it cannot run inside a
 * transaction block: `db` must be the database, not a transaction).
 */
export async function detachScanLogPartition(
  db: Database,
  partition: ScanLogPartition,
): Promise<void> {
  const mode = partition.detachPending ? 'FINALIZE' : 'CONCURRENTLY';
  await db.execute(
    sql.raw(
      `ALTER TABLE mark_scans DETACH PARTITION ${partitionIdentifier(partition.name)} ${mode}`,
    ),
  );
}

/** Drops a detached partition (no longer part of mark_scans: nobody reads it through the log). */
export async function dropDetachedScanLogPartition(db: Database, name: string): Promise<void> {
  await db.execute(sql.raw(`DROP TABLE IF EXISTS ${partitionIdentifier(name)}`));
}
