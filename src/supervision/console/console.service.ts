import type { AuditService } from '../../audit/audit.service';
import type { Principal } from '../../auth/principal';
import { alertSeverities, type AlertSeverity, type AlertStatus } from '../../db/schema/alerts';
import type { IssuersService } from '../../issuers/issuers.service';
import type { MarksService } from '../../marks/marks.service';
import type { AlertsService } from '../alerts.service';

/** Alerts shown at once; the API pages through the rest. */
const PAGE_ALERTS = 300;
/** A mark alert shows its latest checks (the rest: GET /v1/marks/{serial}/scans). */
const RECENT_SCANS = 10;
/** Suspected clones drawn on their own maps: the most recent open ones. */
const CLONES_DRAWN = 6;
/** The trend's length, in days (China Standard Time). */
export const TREND_DAYS = 30;

export interface ConsoleFilters {
  status: AlertStatus | undefined;
  reason: string | undefined;
  issuer: string | undefined;
}

/**
 * What the supervisor console shows (SPEC "Supervision"), gathered through each feature's service:
 * the alerts (filtered) with their reports, audit history and a mark's latest checks; alerts per
 * province and severity for the map; alerts opened and marks checked per day for the trend; and
 * the open suspected clones with the places and times their marks were checked.
 */
export class SupervisorConsole {
  constructor(
    private readonly deps: {
      alerts: AlertsService;
      audit: AuditService;
      marks: MarksService;
      issuers: IssuersService;
    },
  ) {}

  async overview(principal: Principal, filters: ConsoleFilters) {
    const { alerts, audit, marks, issuers } = this.deps;
    const [list, summary, issuerList, opened, checks, clones] = await Promise.all([
      alerts.listAlerts({ ...filters, page: 1, pageSize: PAGE_ALERTS }),
      alerts.summary(filters),
      issuers.listIssuers(),
      alerts.dailyOpened(TREND_DAYS),
      marks.dailyChecks(principal, TREND_DAYS),
      alerts.listAlerts({
        status: 'open',
        reason: 'SUSPECTED_CLONE',
        page: 1,
        pageSize: CLONES_DRAWN,
      }),
    ]);
    const ids = list.items.map((a) => a.id);
    const markSerials = (items: typeof list.items) =>
      items.filter((a) => a.subjectType === 'mark').map((a) => a.subject);
    const cloneSerials = markSerials(clones.items);
    const [reports, reportCounts, history, scans] = await Promise.all([
      alerts.reportsOf(ids),
      alerts.reportCountsOf(ids),
      audit.historyOf('alert', ids),
      marks.recentScans(
        principal,
        [...new Set([...markSerials(list.items), ...cloneSerials])],
        RECENT_SCANS,
      ),
    ]);

    // The map: alerts per province and severity (an alert counts once in each of its provinces).
    const byProvince = new Map<string, Record<AlertSeverity, number>>();
    for (const row of summary) {
      if (!row.province) continue;
      const counts = byProvince.get(row.province) ?? { forged: 0, misused: 0, suspicious: 0 };
      counts[row.severity] += row.alerts;
      byProvince.set(row.province, counts);
    }

    return {
      alerts: list,
      summary,
      issuers: issuerList.map((i) => ({ id: i.id, name: i.name })),
      reports,
      reportCounts,
      history,
      scans,
      byProvince,
      trend: {
        days: opened.map((d) => d.day),
        checks: checks.map((d) => d.checks),
        notAuthentic: checks.map((d) => d.notAuthentic),
        ...(Object.fromEntries(
          alertSeverities.map((s) => [s, opened.map((d) => d[s])] as const),
        ) as Record<AlertSeverity, number[]>),
      },
      // Oldest first: the order a clone's checks came in.
      clones: cloneSerials.map((serial) => ({
        serial,
        scans: scans.filter((s) => s.serial === serial).reverse(),
      })),
    };
  }
}

export type ConsoleOverview = Awaited<ReturnType<SupervisorConsole['overview']>>;
