import type { Logger } from 'pino';
import type { Actor } from '../auth/principal';
import { appendAuditEntry } from '../audit/audit.queries';
import { changeTime, type Clock } from '../clock';
import type { Database, Queryable } from '../db/client';
import type { AlertRow, AlertSeverity, AlertStatus } from '../db/schema/alerts';
import { AppError, notFound } from '../errors';
import { reasonClasses, type ReasonCode } from '../verification/verdict';
import type { AlertSignal, AlertSink } from '../verification/alert-sink';
import * as q from './alerts.queries';
import { AlertWriter, type AlertWriteStats } from './alert-writer';
import { storableText, unstorableTextProblem } from '../shared/text';
import { recordEvent } from '../subscriptions/outbox';
import { chinaDays } from '../shared/dates';
import type { ReportRow } from '../db/schema/reports';
import { MARK_CODE_LENGTH } from '../crypto/mark-code';

/** The reason of an alert opened by a consumer's report (POST /v1/reports). */
export const REPORTED = 'REPORTED';

/** Reasons an alert can carry: the alerting verification reasons, then a consumer's report. */
export const alertReasons = [
  ...Object.entries(reasonClasses)
    .filter(([, severity]) => severity !== 'invalid')
    .map(([code]) => code),
  // Raised only by customs, for an attempt to import more than an exemption still covers.
  'QUANTITY_EXHAUSTED',
  REPORTED,
] as string[] as [string, ...string[]];

export interface AlertView {
  id: string;
  subjectType: string;
  subject: string;
  reason: string;
  severity: AlertSeverity;
  status: AlertStatus;
  count: number;
  firstSeen: string;
  lastSeen: string;
  regions: string[];
  issuerId: string | null;
  certificateId: string | null;
  raisedBy: {
    channel: string;
    verdict: string;
    reasons: { code: string; message: string }[];
    context: Record<string, unknown> | null;
  };
  lastSeenBy: { channel: string; context: Record<string, unknown> | null } | null;
  resolution: { note: string | null; by: string | null; at: string } | null;
}

export interface AlertReportView {
  id: string;
  /** The mark the report was filed against, when what the reporter scanned or typed named one. */
  serial: string | null;
  /** What the reporter scanned or typed, a mark code cut to its prefix (see ReportsService). */
  code: string | null;
  certificateNumber: string | null;
  description: string;
  region: string | null;
  contact: string | null;
  createdAt: string;
}

function reportView(r: ReportRow): AlertReportView {
  return {
    id: r.id,
    serial: r.subjectType === 'mark' ? r.subject : null,
    code: r.code,
    certificateNumber: r.certificateNumber,
    description: r.description,
    region: r.region,
    contact: r.contact,
    createdAt: r.createdAt.toISOString(),
  };
}

export function alertView(row: AlertRow): AlertView {
  return {
    id: row.id,
    subjectType: row.subjectType,
    subject: row.subject,
    reason: row.reason,
    severity: row.severity,
    status: row.status,
    count: row.count,
    firstSeen: row.firstSeen.toISOString(),
    lastSeen: row.lastSeen.toISOString(),
    regions: row.regions,
    issuerId: row.issuerId,
    certificateId: row.certificateId,
    raisedBy: {
      channel: row.channel,
      verdict: row.verdict,
      reasons: row.reasons,
      context: row.context ?? null,
    },
    lastSeenBy: row.lastChannel
      ? { channel: row.lastChannel, context: row.lastContext ?? null }
      : null,
    resolution:
      row.status === 'resolved' && row.resolvedAt
        ? { note: row.resolutionNote, by: row.resolvedBy, at: row.resolvedAt.toISOString() }
        : null,
  };
}

export interface AlertSearch {
  status?: AlertStatus | undefined;
  reason?: string | undefined;
  issuer?: string | undefined;
  since?: Date | undefined;
  page: number;
  pageSize: number;
}

/**
 * Context values are kept short: an alert is a pointer for a supervisor, not a copy of evidence.
 * Shorter than a mark code, too: whatever field a finding quotes, an alert never keeps a whole code
 * (SPEC "Product marks": only the owning issuer can obtain a mark's code). The request schemas
 * bound what findings quote to 100 characters (a model), but for a report's code, which
 * ReportsService cuts to its prefix before: this is the backstop, not the redaction.
 */
const MAX_CONTEXT_STRING = Math.min(100, MARK_CODE_LENGTH - 1);

/**
 * The context an alert can keep. A value the database cannot store (NUL, invalid Unicode…, see
 * src/shared/text.ts), or that is not a plain string, finite number or boolean, is dropped: the
 * alert itself must never be lost over what a forger put in an optional field.
 */
function boundedContext(
  context: Record<string, unknown> | undefined,
): Record<string, unknown> | null {
  if (!context) return null;
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(context)) {
    if (unstorableTextProblem(key)) continue;
    if (typeof value === 'string') {
      if (unstorableTextProblem(value)) continue;
      kept[key] =
        value.length > MAX_CONTEXT_STRING ? `${value.slice(0, MAX_CONTEXT_STRING)}…` : value;
    } else if (
      (typeof value === 'number' && Number.isFinite(value)) ||
      typeof value === 'boolean'
    ) {
      kept[key] = value;
    }
  }
  return Object.keys(kept).length ? kept : null;
}

/** Clears a mark's suspected-clone flag (implemented by the marks feature). */
export interface CloneClearer {
  /** Takes its time under the mark's row lock, like every status change. */
  clearSuspectedClone(serial: string, actor: Actor): Promise<boolean>;
}

export interface OpenAlertInput {
  subjectType: string;
  subject: string;
  reason: string;
  severity: AlertSeverity;
  at: Date;
  region?: string | null | undefined;
  issuerId?: string | null | undefined;
  certificateId?: string | null | undefined;
  channel: string;
  verdict: string;
  reasons: { code: string; message: string }[];
  context?: Record<string, unknown> | undefined;
}

/** Several findings of one alert merged before they are written (see AlertWriter). */
export interface MergedFindings {
  count: number;
  firstSeen: Date;
  lastSeen: Date;
  regions: readonly string[];
  /** The latest finding, when there is more than one. */
  last?: OpenAlertInput | undefined;
}

/**
 * Opens an alert or counts a repeat on the open one, inside the caller's transaction: one finding
 * (`input`), or `merged` findings of which `input` is the first. Opening an alert is a change and
 * must be audited: the caller passes the result to {@link auditOpenedAlerts} after its last
 * upsert. A repeat only moves counters and is not audited, so a flood of scans of one fake cannot
 * flood the audit log.
 */
export async function openOrCountAlert(
  tx: Queryable,
  input: OpenAlertInput,
  merged?: MergedFindings,
): Promise<OpenedAlert> {
  const stored = storableAlertInput(input);
  const last = merged?.last && storableAlertInput(merged.last);
  const region = stored.region ?? null;
  const regions = merged
    ? merged.regions.filter((r) => !unstorableTextProblem(r))
    : region
      ? [region]
      : [];
  const result = await q.upsertOpenAlert(tx, {
    subjectType: stored.subjectType,
    subject: stored.subject,
    reason: stored.reason,
    severity: stored.severity,
    count: merged?.count ?? 1,
    firstSeen: merged?.firstSeen ?? stored.at,
    lastSeen: merged?.lastSeen ?? stored.at,
    regions,
    issuerId: stored.issuerId ?? null,
    certificateId: stored.certificateId ?? null,
    channel: stored.channel,
    verdict: stored.verdict,
    reasons: stored.reasons,
    context: boundedContext(stored.context),
    last: last ? { channel: last.channel, context: boundedContext(last.context) } : null,
  });
  return { ...result, input: stored };
}

/**
 * What of an alert can be stored. Subjects and findings may quote what was presented: they are
 * kept without the characters the database cannot hold; a region that is not one is dropped.
 */
function storableAlertInput(input: OpenAlertInput): OpenAlertInput {
  return {
    ...input,
    subject: storableText(input.subject),
    region: input.region && !unstorableTextProblem(input.region) ? input.region : null,
    reasons: input.reasons.map((r) => ({ code: r.code, message: storableText(r.message) })),
  };
}

export interface OpenedAlert {
  id: string;
  opened: boolean;
  input: OpenAlertInput;
}

/**
 * Tells subscribers of an opened alert (`alert.opened`), and of a mark newly suspected to be a
 * clone (`mark.flagged`: its SUSPECTED_CLONE alert opens when the scan that flagged it is judged).
 */
async function announceOpenedAlert(tx: Queryable, id: string, input: OpenAlertInput) {
  const alert = {
    id,
    reason: input.reason,
    severity: input.severity,
    subjectType: input.subjectType,
    subject: input.subject,
    issuerId: input.issuerId ?? null,
    certificateId: input.certificateId ?? null,
    region: input.region ?? null,
    channel: input.channel,
    openedAt: input.at.toISOString(),
  };
  await recordEvent(tx, {
    type: 'alert.opened',
    at: input.at,
    issuerId: alert.issuerId,
    certificateId: alert.certificateId,
    data: { alert },
  });
  if (input.reason === 'SUSPECTED_CLONE' && input.subjectType === 'mark') {
    await recordEvent(tx, {
      type: 'mark.flagged',
      at: input.at,
      issuerId: alert.issuerId,
      certificateId: alert.certificateId,
      data: {
        mark: {
          serial: input.subject,
          certificateId: alert.certificateId,
          issuerId: alert.issuerId,
          flaggedAt: input.at.toISOString(),
          alertId: id,
        },
      },
    });
  }
}

/**
 * Audits (and announces to subscribers) the alerts a transaction opened. Called after every alert upsert of the transaction: the
 * audit append takes a log-wide lock, and taking it last means a transaction holding it never waits
 * for an alert row another transaction holds (which could be waiting for that lock: a deadlock).
 */
export async function auditOpenedAlerts(
  tx: Queryable,
  actor: Actor,
  results: readonly OpenedAlert[],
): Promise<void> {
  for (const { id, opened, input } of results) {
    if (!opened) continue;
    await announceOpenedAlert(tx, id, input);
    await appendAuditEntry(tx, input.at, {
      actor,
      action: 'alert.open',
      subjectType: 'alert',
      subjectId: id,
      change: {
        subjectType: input.subjectType,
        subject: input.subject,
        reason: input.reason,
        channel: input.channel,
        issuerId: input.issuerId ?? null,
        certificateId: input.certificateId ?? null,
      },
    });
  }
}

/**
 * How serious a finding is for supervisors. At the border an attempt to import more than an
 * exemption still covers is an attempt to misuse it (issue: over-quantity attempts reach
 * supervisors), although for the verifier the certificate is merely exhausted.
 */
function alertSeverityOf(code: ReasonCode, channel: string): string {
  if (code === 'QUANTITY_EXHAUSTED' && channel === 'customs.consume') return 'misused';
  return reasonClasses[code];
}

/**
 * The findings of a signal, one per alerting reason (forged, misused or suspicious; sorted, so two
 * instances raising the same set lock the index entries in the same order).
 */
export function alertInputsOf(signal: AlertSignal): OpenAlertInput[] {
  const codes = new Set<ReasonCode>();
  for (const r of signal.reasons) {
    const severity = alertSeverityOf(r.code, signal.channel);
    if (severity === 'forged' || severity === 'misused' || severity === 'suspicious')
      codes.add(r.code);
  }
  return [...codes].sort().map((code) => ({
    subjectType: signal.subjectType,
    subject: signal.subject,
    reason: code,
    severity: alertSeverityOf(code, signal.channel) as AlertSeverity,
    at: signal.at,
    region: signal.region,
    issuerId: signal.issuerId,
    certificateId: signal.certificateId,
    channel: signal.channel,
    verdict: signal.verdict,
    reasons: signal.reasons,
    context: signal.context,
  }));
}

/**
 * Alerts for supervisors (SPEC "Supervision"): every forged, misused and suspicious finding is
 * kept as one open alert per subject and reason, counting repeats, until a supervisor resolves it.
 */
/** How many of an alert's reports its detail shows: the latest. */
export const REPORTS_SHOWN = 100;

export class AlertsService implements AlertSink {
  #cloneClearer: CloneClearer | undefined;
  readonly #writer: AlertWriter;

  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    options: { logger?: Logger | undefined } = {},
  ) {
    this.#writer = new AlertWriter(db, { logger: options.logger });
  }

  /**
   * Who clears a mark's suspected-clone flag when a supervisor resolves its SUSPECTED_CLONE alert
   * (SPEC: a mark is SUSPECTED_CLONE "until a supervisor clears it"). The marks feature registers
   * itself here (see createServices).
   */
  setCloneClearer(clearer: CloneClearer): void {
    this.#cloneClearer = clearer;
  }

  /**
   * AlertSink: one finding per alerting reason of the signal (forged, misused or suspicious),
   * opening its alert or counting a repeat on the open one, written by group commit (see
   * AlertWriter). Never rejects: what cannot be written is retried, or logged and counted.
   */
  raise(signal: AlertSignal): Promise<void> {
    return this.#writer.raise(signal);
  }

  /** Writes the findings still waiting (tests, shutdown). */
  flush(): Promise<void> {
    return this.#writer.flush();
  }

  /** Findings raised, written, waiting and lost since start. */
  alertWriteStats(): AlertWriteStats {
    return this.#writer.stats;
  }

  /**
   * Shutdown: writes what waits, trying again while the database is away until `withinMs` have
   * passed; what cannot be written is logged and counted as lost.
   */
  close(withinMs = 0): Promise<void> {
    return this.#writer.close(withinMs);
  }

  async listAlerts(search: AlertSearch) {
    const { rows, total } = await q.listAlerts(this.db, {
      status: search.status,
      reason: search.reason,
      issuerId: search.issuer,
      since: search.since,
      limit: search.pageSize,
      offset: (search.page - 1) * search.pageSize,
    });
    return { items: rows.map(alertView), page: search.page, pageSize: search.pageSize, total };
  }

  /**
   * One alert with the latest {@link REPORTS_SHOWN} consumer reports filed against it (oldest of
   * them first) and how many there are in all: anyone may report, so an alert may hold any number.
   */
  async getAlert(
    id: string,
  ): Promise<AlertView & { reports: AlertReportView[]; reportCount: number }> {
    const row = await q.findAlert(this.db, id);
    if (!row) throw notFound('alert');
    const reports = await q.reportsOfAlert(this.db, id, REPORTS_SHOWN);
    return { ...alertView(row), reports: reports.rows.map(reportView), reportCount: reports.total };
  }

  /**
   * The latest `perAlert` consumer reports filed against each of `alertIds`, oldest first, each
   * with its alert (the console shows the latest few; the alert's detail has more).
   */
  async reportsOf(
    alertIds: readonly string[],
    perAlert = 5,
  ): Promise<(AlertReportView & { alertId: string | null })[]> {
    const rows = await q.reportsOfAlerts(this.db, alertIds, perAlert);
    return rows.map((r) => ({ ...reportView(r), alertId: r.alertId }));
  }

  /** How many reports each alert has in all (the console shows the latest few: reportsOf). */
  reportCountsOf(alertIds: readonly string[]): Promise<Map<string, number>> {
    return q.reportCountsOfAlerts(this.db, alertIds);
  }

  /**
   * Alerts opened per day in China Standard Time, the last `days` days up to today, by severity,
   * every day present: the supervisor console's trend.
   */
  async dailyOpened(days: number): Promise<({ day: string } & Record<AlertSeverity, number>)[]> {
    const range = chinaDays(this.clock.now(), days);
    const byDay = new Map<string, { day: string } & Record<AlertSeverity, number>>(
      range.days.map((day) => [day, { day, forged: 0, misused: 0, suspicious: 0 }]),
    );
    for (const row of await q.dailyOpenedAlerts(this.db, range)) {
      const day = byDay.get(row.day);
      if (day) day[row.severity] += row.alerts;
    }
    return [...byDay.values()];
  }

  /** Resolves an open alert, with a note if given; a resolved one is 409 `alert_already_resolved`. */
  async resolveAlert(actor: Actor, id: string, note: string | null): Promise<AlertView> {
    const open = await q.findAlert(this.db, id);
    if (!open) throw notFound('alert');
    // Clearing a suspected clone is what resolving its alert means. It is done first, in the marks
    // feature's own transaction (it appends to the audit log too, and must not wait for the lock
    // this transaction would hold): if it fails, nothing is resolved and the supervisor can retry;
    // if the resolution then loses a race (409), the flag was cleared twice, which is harmless.
    if (
      open.status === 'open' &&
      open.reason === 'SUSPECTED_CLONE' &&
      open.subjectType === 'mark'
    ) {
      await this.#cloneClearer?.clearSuspectedClone(open.subject, actor);
    }
    const row = await this.db.transaction(async (tx) => {
      // Locked, then checked and timed: the resolution comes after every finding it covers, and of
      // two at once the second sees the first.
      const existing = await q.lockAlert(tx, id);
      if (!existing) throw notFound('alert');
      if (existing.status !== 'open') {
        throw new AppError('alert_already_resolved', 'the alert is already resolved', {
          resolvedAt: existing.resolvedAt?.toISOString() ?? null,
        });
      }
      const at = changeTime(this.clock, existing.lastSeen);
      const resolved = await q.resolveAlert(tx, { id, note, resolvedBy: actor.keyId, at });
      await appendAuditEntry(tx, at, {
        actor,
        action: 'alert.resolve',
        subjectType: 'alert',
        subjectId: id,
        change: {
          note,
          reason: resolved.reason,
          subjectType: resolved.subjectType,
          subject: resolved.subject,
        },
      });
      return resolved;
    });
    return alertView(row);
  }

  /** Alerts per province and reason, for the supervisor's page. */
  async summary(filter: Omit<AlertSearch, 'page' | 'pageSize'>) {
    return q.summarizeAlerts(this.db, {
      status: filter.status,
      reason: filter.reason,
      issuerId: filter.issuer,
      since: filter.since,
    });
  }
}
