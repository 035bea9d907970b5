import { and, count, desc, eq, gte, sql, type SQL } from 'drizzle-orm';
import type { Queryable } from '../db/client';
import { chinaDayWithin, rowsOf } from '../db/client';
import { alerts, type AlertRow, type AlertSeverity, type AlertStatus } from '../db/schema/alerts';
import { reports, type ReportRow } from '../db/schema/reports';

export interface UpsertAlertParams {
  subjectType: string;
  subject: string;
  reason: string;
  severity: AlertSeverity;
  /** How many findings this upsert stands for (a writer merges repeats): 1 for one finding. */
  count: number;
  firstSeen: Date;
  lastSeen: Date;
  /** Distinct regions of the findings, sorted. */
  regions: string[];
  issuerId: string | null;
  certificateId: string | null;
  /** The first finding: where it came from, its verdict, reasons and context. */
  channel: string;
  verdict: string;
  reasons: { code: string; message: string }[];
  context: Record<string, unknown> | null;
  /** The latest of several findings (its channel and context); null for a single finding. */
  last: { channel: string; context: Record<string, unknown> | null } | null;
}

/**
 * Opens an alert, or counts `count` more findings on the open alert for the same subject and
 * reason. One statement against the partial unique index, so two service instances raising at
 * once end up with one open alert whose count is the sum, never two alerts or a lost update.
 * `opened` tells the caller whether this call created the alert (PostgreSQL sets xmax = 0 on a
 * freshly inserted row).
 */
export async function upsertOpenAlert(
  db: Queryable,
  p: UpsertAlertParams,
): Promise<{ id: string; opened: boolean }> {
  const json = (value: Record<string, unknown> | null) =>
    value === null ? null : JSON.stringify(value);
  const result = await db.execute(sql`
    INSERT INTO alerts (subject_type, subject, reason, severity, status, count, first_seen, last_seen,
                        regions, issuer_id, certificate_id, channel, verdict, reasons, context,
                        last_channel, last_context)
    VALUES (${p.subjectType}, ${p.subject}, ${p.reason}, ${p.severity}, 'open', ${p.count},
            ${p.firstSeen}, ${p.lastSeen},
            ${sql`ARRAY[${sql.join(
              p.regions.map((r) => sql`${r}`),
              sql`, `,
            )}]::text[]`},
            ${p.issuerId}, ${p.certificateId}, ${p.channel}, ${p.verdict},
            ${JSON.stringify(p.reasons)}::jsonb, ${json(p.context)}::jsonb,
            ${p.last?.channel ?? null}, ${json(p.last?.context ?? null)}::jsonb)
    ON CONFLICT (subject_type, subject, reason) WHERE status = 'open'
    DO UPDATE SET
      count = alerts.count + EXCLUDED.count,
      last_seen = GREATEST(alerts.last_seen, EXCLUDED.last_seen),
      regions = ARRAY(SELECT DISTINCT r FROM unnest(alerts.regions || EXCLUDED.regions) AS r ORDER BY r),
      issuer_id = COALESCE(alerts.issuer_id, EXCLUDED.issuer_id),
      certificate_id = COALESCE(alerts.certificate_id, EXCLUDED.certificate_id),
      -- The latest finding of those counted now: the last of several, or the one.
      last_channel = COALESCE(EXCLUDED.last_channel, EXCLUDED.channel),
      last_context = CASE WHEN EXCLUDED.last_channel IS NULL THEN EXCLUDED.context
                          ELSE EXCLUDED.last_context END
    RETURNING id, (xmax = 0) AS opened`);
  const [row] = rowsOf<{ id: string; opened: boolean }>(result);
  return { id: row!.id, opened: row!.opened };
}

export async function findAlert(db: Queryable, id: string): Promise<AlertRow | undefined> {
  const [row] = await db.select().from(alerts).where(eq(alerts.id, id)).limit(1);
  return row;
}

export interface ResolveAlertParams {
  id: string;
  note: string | null;
  resolvedBy: string | null;
  at: Date;
}

/** An alert, locked for a change of its status. */
export async function lockAlert(tx: Queryable, id: string): Promise<AlertRow | undefined> {
  const [row] = await tx.select().from(alerts).where(eq(alerts.id, id)).for('update').limit(1);
  return row;
}

/** Resolves an alert the caller has locked and found open. */
export async function resolveAlert(tx: Queryable, p: ResolveAlertParams): Promise<AlertRow> {
  const [row] = await tx
    .update(alerts)
    .set({ status: 'resolved', resolutionNote: p.note, resolvedBy: p.resolvedBy, resolvedAt: p.at })
    .where(eq(alerts.id, p.id))
    .returning();
  return row!;
}

export interface AlertFilter {
  status?: AlertStatus | undefined;
  reason?: string | undefined;
  issuerId?: string | undefined;
  /** Alerts seen at or after this instant (their last finding). */
  since?: Date | undefined;
}

function alertConditions(f: AlertFilter): SQL | undefined {
  const conditions: SQL[] = [];
  if (f.status) conditions.push(eq(alerts.status, f.status));
  if (f.reason) conditions.push(eq(alerts.reason, f.reason));
  if (f.issuerId) conditions.push(eq(alerts.issuerId, f.issuerId));
  if (f.since) conditions.push(gte(alerts.lastSeen, f.since));
  return conditions.length ? and(...conditions) : undefined;
}

/** forged first, then misused, then suspicious (SPEC verdict order); the latest first within. */
const severityRank = sql`CASE ${alerts.severity} WHEN 'forged' THEN 0 WHEN 'misused' THEN 1 ELSE 2 END`;

export async function listAlerts(
  db: Queryable,
  params: AlertFilter & { limit: number; offset: number },
): Promise<{ rows: AlertRow[]; total: number }> {
  const where = alertConditions(params);
  const rows = await db
    .select()
    .from(alerts)
    .where(where)
    .orderBy(severityRank, desc(alerts.lastSeen), desc(alerts.id))
    .limit(params.limit)
    .offset(params.offset);
  const [total] = await db.select({ n: count() }).from(alerts).where(where);
  return { rows, total: Number(total?.n ?? 0) };
}

export interface AlertSummaryRow {
  /** First two digits of a GB/T 2260 code, or null for findings without a region. */
  province: string | null;
  reason: string;
  severity: AlertSeverity;
  alerts: number;
  findings: number;
}

/** Alerts per province and reason: an alert seen in several provinces counts in each. */
export async function summarizeAlerts(
  db: Queryable,
  filter: AlertFilter,
): Promise<AlertSummaryRow[]> {
  const where = alertConditions(filter);
  const result = await db.execute(sql`
    SELECT left(r.region, 2) AS province, a.reason, a.severity,
           count(DISTINCT a.id)::int AS alerts, sum(a.count)::int AS findings
    FROM alerts a
    LEFT JOIN LATERAL (SELECT DISTINCT left(x, 2) AS region FROM unnest(a.regions) AS x) r ON true
    ${where ? sql`WHERE a.id IN (SELECT ${alerts.id} FROM ${alerts} WHERE ${where})` : sql``}
    GROUP BY 1, 2, 3
    ORDER BY 1 NULLS LAST, 2`);
  return rowsOf<AlertSummaryRow>(result);
}

/** Alerts opened on one day in China Standard Time, by severity. */
export interface DailyAlerts {
  day: string;
  severity: AlertSeverity;
  alerts: number;
}

/**
 * Alerts opened (their first finding) per day in China Standard Time and severity, from `since`
 * until `until`; days without alerts left out.
 */
export async function dailyOpenedAlerts(
  db: Queryable,
  params: { since: Date; until: Date },
): Promise<DailyAlerts[]> {
  const { day, within } = chinaDayWithin(alerts.firstSeen, params);
  const rows = rowsOf<DailyAlerts>(
    await db.execute(sql`
      SELECT ${day} AS day, ${alerts.severity} AS severity, count(*)::int AS alerts
      FROM ${alerts} WHERE ${within}
      GROUP BY 1, 2
      ORDER BY 1, 2`),
  );
  return rows.map((r) => ({ ...r, alerts: Number(r.alerts) }));
}

export async function reportsOfAlert(
  db: Queryable,
  alertId: string,
  limit: number,
): Promise<{ rows: ReportRow[]; total: number }> {
  const [rows, [counted]] = await Promise.all([
    db
      .select()
      .from(reports)
      .where(eq(reports.alertId, alertId))
      .orderBy(desc(reports.createdAt), desc(reports.id))
      .limit(limit),
    db.select({ n: count() }).from(reports).where(eq(reports.alertId, alertId)),
  ]);
  return { rows: rows.reverse(), total: Number(counted?.n ?? 0) };
}

/**
 * The latest `perAlert` reports filed against each of `alertIds` (one index range each: an alert
 * that anyone can report on may hold any number), oldest first.
 */
export async function reportsOfAlerts(
  db: Queryable,
  alertIds: readonly string[],
  perAlert: number,
): Promise<ReportRow[]> {
  if (alertIds.length === 0) return [];
  // One statement (a console page lists up to 300 alerts: a query each held the pool), one index
  // range per alert.
  const rows = rowsOf<Record<string, unknown>>(
    await db.execute(sql`
      SELECT r.* FROM unnest(${`{${[...new Set(alertIds)].join(',')}}`}::uuid[]) AS a(id)
      CROSS JOIN LATERAL (
        SELECT * FROM reports WHERE alert_id = a.id
        ORDER BY created_at DESC, id DESC LIMIT ${perAlert}) AS r
      ORDER BY r.created_at, r.id`),
  );
  return rows.map(reportRowOf);
}

/** How many reports each of `alertIds` has (an alert without any is left out). */
export async function reportCountsOfAlerts(
  db: Queryable,
  alertIds: readonly string[],
): Promise<Map<string, number>> {
  if (alertIds.length === 0) return new Map();
  const rows = rowsOf<{ alert_id: string; reports: string | number }>(
    await db.execute(sql`
      SELECT alert_id, count(*) AS reports FROM reports
      WHERE alert_id = ANY(${`{${[...new Set(alertIds)].join(',')}}`}::uuid[])
      GROUP BY alert_id`),
  );
  return new Map(rows.map((row) => [row.alert_id, Number(row.reports)]));
}

/** A reports row read by hand-written SQL, as drizzle reads it. */
function reportRowOf(row: Record<string, unknown>): ReportRow {
  const { alert_id, subject_type, certificate_number, created_at, ...rest } = row;
  return {
    ...(rest as Omit<ReportRow, 'alertId' | 'subjectType' | 'certificateNumber' | 'createdAt'>),
    alertId: alert_id as string,
    subjectType: subject_type as string,
    certificateNumber: (certificate_number ?? null) as string | null,
    createdAt: created_at instanceof Date ? created_at : new Date(String(created_at)),
  };
}

export async function insertReport(
  db: Queryable,
  row: typeof reports.$inferInsert,
): Promise<ReportRow> {
  const [inserted] = await db.insert(reports).values(row).returning();
  return inserted!;
}
