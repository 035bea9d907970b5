import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
  type CounterConfiguration,
} from 'prom-client';
import type { Logger } from 'pino';
import { pgPoolOf, type Database } from '../db/client';
import type { Pool as PgPool } from 'pg';
import type { AlertWriteStats } from '../supervision/alert-writer';
import type {
  MarkVerificationObserver,
  ScanPipelineStats,
} from '../verification/mark-verification.service';
import {
  reasonClasses,
  verdictSeverity,
  type VerdictObserver,
  type VerdictSubject,
} from '../verification/verdict';
import { loggableError } from '../shared/loggable-error';
import type { WitnessLag } from '../audit/witnessing';

/** Where the figures read at each scrape come from (the services of the same app). */
export interface MetricsSources {
  scans: () => ScanPipelineStats;
  alerts: () => AlertWriteStats;
  auditLag: () => Promise<{ pendingEntries: number; oldestPendingSeconds: number }>;
  /** The audit log's witnessed lag (src/audit/witnessing.ts); undefined without witnesses. */
  witnessLag?: () => Promise<WitnessLag | undefined>;
  /** The databases whose pools are watched: the primary, and a read replica if any. */
  databases: { name: 'primary' | 'replica'; db: Database }[];
}

/** A database-backed figure may take this long at a scrape; past it the last value stays. */
const SOURCE_TIMEOUT_MS = 2_000;

const PROMTOOL_REFUSED_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

const SUBJECTS: readonly VerdictSubject[] = ['certificate', 'mark', 'exemption'];
const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Seconds; from a cached read (about a millisecond) to the slowest answers a client waits for. */
const REQUEST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const WRITE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** A counter whose value is read from a source at each scrape (it only ever grows there). */
class PulledCounter extends Counter {
  constructor(config: CounterConfiguration<string>) {
    super(config);
  }

  setTotal(value: number): void {
    this.reset();
    this.inc(value);
  }
}

/**
 * The service's metrics for Prometheus (GET /metrics, see the README's table), in a registry of
 * this app's own: requests by route pattern and status with their latency, verification answers by
 * verdict and reason, the scan pipeline, the database pools and breaker, the
 * audit log's sequencing lag and the alert writer.
 *
 * Recording costs a request one histogram observation (a label lookup and an add); everything
 * else is read from the services when Prometheus scrapes. Label values come from closed sets
 * (route patterns, never raw paths; status codes; verdicts and reason codes), so the number of
 * series stays bounded whatever clients send.
 */
export class ServiceMetrics {
  readonly registry = new Registry();
  readonly #requests: Histogram<'method' | 'route' | 'status'>;
  readonly #verdicts: Counter<'subject' | 'verdict'>;
  readonly #reasons: Counter<'subject' | 'reason'>;
  readonly #scanCountDuration: Histogram;
  readonly #scanLogFlushDuration: Histogram;
  readonly #gauges: {
    scanCountWaiting: Gauge;
    scanCountStatements: Gauge;
    scanLogBuffered: Gauge;
    poolConnections: Gauge<'database' | 'state'>;
    poolWaiting: Gauge<'database'>;
    breakerOpen: Gauge<'database'>;
    databaseInfo: Gauge<'kind'>;
    auditPending: Gauge;
    auditOldest: Gauge;
    witnessedLagEntries: Gauge;
    witnessedLagSeconds: Gauge;
    witnessFailures: Gauge<'witness'>;
    alertsPending: Gauge;
  };
  readonly #counters: {
    scanLogWritten: PulledCounter;
    scanLogDropped: PulledCounter;
    alertFindings: PulledCounter;
    alertWritten: PulledCounter;
    alertWritesFailed: PulledCounter;
    alertLost: PulledCounter;
  };
  readonly #sourceErrors: Counter<'source'>;
  readonly #logger: Logger | undefined;
  #sources: MetricsSources | undefined;

  constructor(options: { processMetrics?: boolean; logger?: Logger | undefined } = {}) {
    const registers = [this.registry];
    this.#logger = options.logger;
    // The process's CPU, memory, event loop lag and GC: for the one app a process serves (tests
    // make many apps in one process and leave them out).
    if (options.processMetrics) {
      collectDefaultMetrics({ register: this.registry });
      // Gauges prom-client names with a counter's `_total` (promtool check metrics refuses them);
      // the same counts stay in nodejs_active_handles, _requests and _resources, by type.
      for (const name of PROMTOOL_REFUSED_DEFAULTS) this.registry.removeSingleMetric(name);
    }

    this.#requests = new Histogram({
      name: 'certmark_http_request_duration_seconds',
      help: 'HTTP requests by method, route pattern and status: time until the answer is ready',
      labelNames: ['method', 'route', 'status'],
      buckets: REQUEST_BUCKETS,
      registers,
    });
    this.#verdicts = new Counter({
      name: 'certmark_verifications_total',
      help: 'Verification answers given, by what was verified and verdict',
      labelNames: ['subject', 'verdict'],
      registers,
    });
    this.#reasons = new Counter({
      name: 'certmark_verification_reasons_total',
      help: 'Reasons given in verification answers, by what was verified and reason code',
      labelNames: ['subject', 'reason'],
      registers,
    });
    // Every series of the closed sets exists from the start, so rates work from the first scrape.
    for (const subject of SUBJECTS) {
      for (const verdict of verdictSeverity) this.#verdicts.inc({ subject, verdict }, 0);
      for (const reason of Object.keys(reasonClasses)) this.#reasons.inc({ subject, reason }, 0);
    }
    this.#scanCountDuration = new Histogram({
      name: 'certmark_scan_count_duration_seconds',
      help: 'Statements counting scans on their marks (each counts the scans that waited for it)',
      buckets: WRITE_BUCKETS,
      registers,
    });
    this.#scanLogFlushDuration = new Histogram({
      name: 'certmark_scan_log_flush_duration_seconds',
      help: 'Flushes of the scan log buffer to the database',
      buckets: WRITE_BUCKETS,
      registers,
    });
    const gauge = <L extends string>(name: string, help: string, labelNames: L[] = []) =>
      new Gauge<L>({ name, help, labelNames, registers });
    this.#gauges = {
      scanCountWaiting: gauge(
        'certmark_scan_count_waiting',
        'Scans waiting for a statement to count them on their marks',
      ),
      scanCountStatements: gauge(
        'certmark_scan_count_statements',
        'Scan-counting statements running now',
      ),
      scanLogBuffered: gauge(
        'certmark_scan_log_buffered',
        'Scan log entries in the buffer, not yet written',
      ),
      poolConnections: gauge(
        'certmark_db_pool_connections',
        'PostgreSQL pool connections by state (in_use, idle)',
        ['database', 'state'],
      ),
      poolWaiting: gauge(
        'certmark_db_pool_waiting',
        'Requests waiting for a PostgreSQL pool connection',
        ['database'],
      ),
      breakerOpen: gauge(
        'certmark_db_breaker_open',
        '1 while the database breaker is open (the database unreachable: 503 at once), else 0',
        ['database'],
      ),
      databaseInfo: gauge(
        'certmark_database_info',
        'The primary database: postgres, or pglite (embedded, one connection, no pool)',
        ['kind'],
      ),
      auditPending: gauge(
        'certmark_audit_sequencing_pending_entries',
        'Audit entries committed but not yet integrated into the transparency log',
      ),
      auditOldest: gauge(
        'certmark_audit_sequencing_oldest_pending_seconds',
        'Age of the oldest audit entry not yet integrated (0 when none waits)',
      ),
      witnessedLagEntries: gauge(
        'certmark_audit_witnessed_lag_entries',
        'Entries in the latest checkpoint and not in the latest one a quorum of witnesses cosigned',
      ),
      witnessedLagSeconds: gauge(
        'certmark_audit_witnessed_lag_seconds',
        'Time since the first checkpoint not yet witnessed was signed (0 when none)',
      ),
      witnessFailures: gauge(
        'certmark_audit_witness_consecutive_failures',
        'Failed add-checkpoint requests to a witness since its last cosignature',
        ['witness'],
      ),
      alertsPending: gauge(
        'certmark_alert_findings_pending',
        'Alert findings waiting to be written',
      ),
    };
    const counter = (name: string, help: string) => new PulledCounter({ name, help, registers });
    this.#counters = {
      scanLogWritten: counter(
        'certmark_scan_log_written_total',
        'Scan log entries written to the database',
      ),
      scanLogDropped: counter(
        'certmark_scan_log_dropped_total',
        'Scan log entries lost (buffer full while the database was away, or a refused write)',
      ),
      alertFindings: counter(
        'certmark_alert_findings_total',
        'Alert findings raised (one per alerting reason of an answer)',
      ),
      alertWritten: counter(
        'certmark_alert_findings_written_total',
        'Alert findings stored (an alert opened, or counted on an open one)',
      ),
      alertWritesFailed: counter(
        'certmark_alert_writes_failed_total',
        'Alert writes that failed (retried, or their findings counted lost)',
      ),
      alertLost: counter('certmark_alert_findings_lost_total', 'Alert findings lost'),
    };
    this.#sourceErrors = new Counter({
      name: 'certmark_metrics_source_errors_total',
      help: 'Scrapes at which a database-backed figure could not be read (its last value was kept)',
      labelNames: ['source'],
      registers,
    });
  }

  /** One answered request: `route` is the route's pattern (`/v1/marks/:serial`), never its path. */
  observeRequest(method: string, route: string, status: number, seconds: number): void {
    this.#requests.observe(
      { method: HTTP_METHODS.has(method) ? method : 'OTHER', route, status: String(status) },
      seconds,
    );
  }

  /** Counts verification answers (passed to the verifying services). */
  readonly onVerdict: VerdictObserver = (subject, verdict, reasons) => {
    this.#verdicts.inc({ subject, verdict });
    for (const r of reasons) this.#reasons.inc({ subject, reason: r.code });
  };

  /** What MarkVerificationService reports as it goes. */
  readonly markVerification: MarkVerificationObserver = {
    verdict: this.onVerdict,
    scanLogFlushed: (seconds) => this.#scanLogFlushDuration.observe(seconds),
    scansCounted: (seconds) => this.#scanCountDuration.observe(seconds),
  };

  /** The services whose state is read at each scrape. */
  watch(sources: MetricsSources): void {
    this.#sources = sources;
  }

  /** The exposition (Prometheus text format 0.0.4), every figure read now. */
  async render(): Promise<{ contentType: string; body: string }> {
    await this.#refresh();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  async #refresh(): Promise<void> {
    const sources = this.#sources;
    if (!sources) return;
    const g = this.#gauges;
    const c = this.#counters;

    const scans = sources.scans();
    g.scanCountWaiting.set(scans.countWaiting);
    g.scanCountStatements.set(scans.countStatements);
    g.scanLogBuffered.set(scans.logBuffered);
    c.scanLogWritten.setTotal(scans.logWritten);
    c.scanLogDropped.setTotal(scans.logDropped);

    const alerts = sources.alerts();
    g.alertsPending.set(alerts.pending);
    c.alertFindings.setTotal(alerts.findings);
    c.alertWritten.setTotal(alerts.written);
    c.alertWritesFailed.setTotal(alerts.failedWrites);
    c.alertLost.setTotal(alerts.lost);

    g.databaseInfo.reset();
    for (const { name, db } of sources.databases) {
      // PGlite has no pool: one in-process connection. The breaker is at the pool's door
      // (src/db/postgres-pool.ts).
      const pool = pgPoolOf(db) as (PgPool & { breakerOpen?: boolean }) | undefined;
      if (!pool) {
        if (name === 'primary') g.databaseInfo.set({ kind: 'pglite' }, 1);
        continue;
      }
      if (name === 'primary') g.databaseInfo.set({ kind: 'postgres' }, 1);
      g.poolConnections.set({ database: name, state: 'in_use' }, pool.totalCount - pool.idleCount);
      g.poolConnections.set({ database: name, state: 'idle' }, pool.idleCount);
      g.poolWaiting.set({ database: name }, pool.waitingCount);
      g.breakerOpen.set({ database: name }, pool.breakerOpen ? 1 : 0);
    }

    // The one figure that asks the database (an index-only count): bounded, and while the
    // database is away (the breaker answers at once) the last value stays and the miss is counted.
    try {
      const lag = await withTimeout(sources.auditLag(), SOURCE_TIMEOUT_MS);
      g.auditPending.set(lag.pendingEntries);
      g.auditOldest.set(lag.oldestPendingSeconds);
    } catch (error) {
      this.#sourceErrors.inc({ source: 'audit_sequencing' });
      this.#logger?.debug({ err: loggableError(error) }, 'metrics: audit sequencing lag unread');
    }
    if (sources.witnessLag) {
      try {
        const lag = await withTimeout(sources.witnessLag(), SOURCE_TIMEOUT_MS);
        if (lag) {
          g.witnessedLagEntries.set(lag.entries);
          g.witnessedLagSeconds.set(lag.seconds);
          for (const w of lag.witnesses) {
            g.witnessFailures.set({ witness: w.name }, w.consecutiveFailures);
          }
        }
      } catch (error) {
        this.#sourceErrors.inc({ source: 'audit_witnessing' });
        this.#logger?.debug({ err: loggableError(error) }, 'metrics: witnessed lag unread');
      }
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
