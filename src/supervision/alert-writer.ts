import type { Logger } from 'pino';
import { systemActor } from '../auth/principal';
import type { Database } from '../db/client';
import { flushWithin } from '../db/retry';
import { isDatabaseUnavailable } from '../errors';
import { loggableError } from '../shared/loggable-error';
import type { AlertSignal, AlertSink } from '../verification/alert-sink';
import {
  alertInputsOf,
  auditOpenedAlerts,
  openOrCountAlert,
  type OpenAlertInput,
  type OpenedAlert,
} from './alerts.service';

export interface AlertWriterOptions {
  logger?: Logger | undefined;
  /** Most alerts one transaction writes (a flush writes all it took, in transactions this big). */
  maxBatch?: number;
  /**
   * Most distinct alerts waiting to be written. Repeats of a waiting alert only add to its count,
   * so this bounds memory while the database is away; a finding of a new alert past it is lost,
   * counted and logged.
   */
  maxPending?: number;
  /** The first wait before a write is tried again after the database failed; doubles up to 5 s. */
  retryDelayMs?: number;
}

/** What the writer did since it started: every finding is written, waiting, or counted lost. */
export interface AlertWriteStats {
  /** Findings raised (one per alerting reason of a signal). */
  findings: number;
  /** Findings stored (opened or counted on an open alert). */
  written: number;
  /** Findings waiting to be written. */
  pending: number;
  /** Writes that failed (each retried, or its findings counted lost). */
  failedWrites: number;
  /** Findings that could not be stored even without their context, or found no room: lost. */
  lost: number;
}

/** One alert's findings waiting to be written: merged by subject and reason. */
interface PendingAlert {
  key: string;
  /** The first finding: what opens the alert. */
  first: OpenAlertInput;
  /** The latest finding (the alert's `lastSeenBy`), when there is more than one. */
  last: OpenAlertInput | undefined;
  count: number;
  firstSeen: Date;
  lastSeen: Date;
  regions: Set<string>;
}

const MAX_RETRY_DELAY_MS = 5_000;
/** Lost findings are logged together at most this often, so a flood cannot flood the log. */
const LOST_LOG_INTERVAL_MS = 5_000;

/**
 * Writes alerts for supervisors by group commit: findings raised while a write is under way are
 * merged by subject and reason (a repeat adds to a count) and written together in the next
 * transaction, with one audit entry per alert opened. A stream of forgeries therefore costs one
 * transaction per flush rather than one per request, and `raise` still resolves only once its
 * finding is stored, so an answer is sent after its alert exists.
 *
 * The contract (SPEC "Verification": every forged, misused and suspicious answer raises or counts
 * its alert) holds when writes fail: `raise` never rejects (the answer is not turned into an
 * error), a write refused by an unreachable database keeps its findings and is retried with
 * backoff, and a finding the database refuses is written again without its context; only what
 * cannot be written even so, or finds no room while the database is away, is lost — logged (by
 * count and error class, never its values) and counted in {@link AlertWriter.stats}.
 *
 * @example
 * const writer = new AlertWriter(db, { logger });
 * await writer.raise(signal); // stored (or, if the database is away, queued and retried)
 */
export class AlertWriter implements AlertSink {
  readonly #db: Database;
  readonly #logger: Logger | undefined;
  readonly #maxBatch: number;
  readonly #maxPending: number;
  readonly #retryDelayMs: number;
  #pending = new Map<string, PendingAlert>();
  #waiters: (() => void)[] = [];
  #writing: Promise<void> | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryDelay = 0;
  #unloggedLost = 0;
  #lostLoggedAt = Number.NEGATIVE_INFINITY;
  #stats = { findings: 0, written: 0, failedWrites: 0, lost: 0 };

  constructor(db: Database, options: AlertWriterOptions = {}) {
    this.#db = db;
    this.#logger = options.logger;
    this.#maxBatch = options.maxBatch ?? 200;
    this.#maxPending = options.maxPending ?? 10_000;
    this.#retryDelayMs = options.retryDelayMs ?? 100;
  }

  get stats(): AlertWriteStats {
    let pending = 0;
    for (const alert of this.#pending.values()) pending += alert.count;
    return { ...this.#stats, pending };
  }

  /**
   * AlertSink: one finding per alerting reason of the signal, stored by the next write. Resolves
   * when that write has committed, or has failed and left the findings to a retry; never rejects.
   */
  raise(signal: AlertSignal): Promise<void> {
    const inputs = alertInputsOf(signal);
    if (inputs.length === 0) return Promise.resolve();
    for (const input of inputs) this.#add(input);
    // While the database is away the findings wait for the retry; the answer does not.
    if (this.#retryTimer) return Promise.resolve();
    const stored = new Promise<void>((resolve) => this.#waiters.push(resolve));
    this.#writing ??= this.#writeAll();
    return stored;
  }

  /** Writes what is waiting now, retrying at once if a retry was scheduled (tests, shutdown). */
  async flush(): Promise<void> {
    if (this.#retryTimer) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
    }
    while (this.#writing) await this.#writing;
    if (this.#pending.size === 0) return;
    this.#writing = this.#writeAll();
    await this.#writing;
  }

  /**
   * Shutdown: writes what waits, trying again while the database is away until `withinMs` have
   * passed; what it cannot store is logged and counted as lost.
   */
  async close(withinMs = 0): Promise<void> {
    await flushWithin(
      () => this.flush(),
      () => this.#pending.size > 0,
      withinMs,
    );
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    for (const alert of this.#pending.values()) this.#lose(alert.count);
    this.#pending.clear();
    this.#logLost(true);
  }

  #add(input: OpenAlertInput): void {
    this.#stats.findings++;
    const key = `${input.subjectType}\u0000${input.subject}\u0000${input.reason}`;
    const waiting = this.#pending.get(key);
    if (waiting) {
      waiting.count++;
      if (input.at < waiting.firstSeen) waiting.firstSeen = input.at;
      if (input.at >= waiting.lastSeen) waiting.lastSeen = input.at;
      if (input.region) waiting.regions.add(input.region);
      waiting.last = input;
      return;
    }
    if (this.#pending.size >= this.#maxPending) {
      this.#lose(1);
      return;
    }
    this.#pending.set(key, {
      key,
      first: input,
      last: undefined,
      count: 1,
      firstSeen: input.at,
      lastSeen: input.at,
      regions: new Set(input.region ? [input.region] : []),
    });
  }

  /** Takes everything waiting and writes it; runs again while more arrived meanwhile. */
  async #writeAll(): Promise<void> {
    try {
      while (this.#pending.size > 0 && !this.#retryTimer) {
        const taken = [...this.#pending.values()].sort((a, b) => (a.key < b.key ? -1 : 1));
        const waiters = this.#waiters;
        this.#pending = new Map();
        this.#waiters = [];
        for (let i = 0; i < taken.length; i += this.#maxBatch) {
          const unwritten = await this.#writeBatch(taken.slice(i, i + this.#maxBatch));
          if (unwritten) {
            this.#requeue([...unwritten, ...taken.slice(i + this.#maxBatch)]);
            this.#scheduleRetry();
            break;
          }
        }
        for (const resolve of waiters) resolve();
      }
    } finally {
      this.#writing = undefined;
      this.#logLost(false);
    }
  }

  /**
   * One transaction for the batch (sorted, so two instances lock alert rows in one order; the
   * audit append last, see auditOpenedAlerts). Returns the alerts to retry when the database is
   * unreachable; any other failure is one alert's doing, so each is then written alone.
   */
  async #writeBatch(batch: readonly PendingAlert[]): Promise<PendingAlert[] | undefined> {
    try {
      await this.#db.transaction(async (tx) => {
        const opened: OpenedAlert[] = [];
        for (const alert of batch) opened.push(await openOrCountAlert(tx, ...upsertOf(alert)));
        await auditOpenedAlerts(tx, systemActor, opened);
      });
      this.#written(batch);
      return undefined;
    } catch (error) {
      this.#failed(error, batch);
      if (isDatabaseUnavailable(error)) return [...batch];
    }
    const unwritten: PendingAlert[] = [];
    for (const alert of batch) {
      const left = await this.#writeAlone(alert);
      if (left) unwritten.push(left);
    }
    return unwritten.length > 0 ? unwritten : undefined;
  }

  /** One alert in its own transaction; if refused, once more without what the finding quoted. */
  async #writeAlone(alert: PendingAlert): Promise<PendingAlert | undefined> {
    for (const attempt of [alert, bare(alert)]) {
      try {
        await this.#db.transaction(async (tx) => {
          const opened = await openOrCountAlert(tx, ...upsertOf(attempt));
          await auditOpenedAlerts(tx, systemActor, [opened]);
        });
        this.#written([attempt]);
        return undefined;
      } catch (error) {
        this.#failed(error, [attempt]);
        if (isDatabaseUnavailable(error)) return alert;
      }
    }
    this.#lose(alert.count);
    return undefined;
  }

  #written(batch: readonly PendingAlert[]): void {
    for (const alert of batch) this.#stats.written += alert.count;
    this.#retryDelay = 0;
  }

  #failed(error: unknown, batch: readonly PendingAlert[]): void {
    this.#stats.failedWrites++;
    this.#logger?.warn(
      {
        err: loggableError(error),
        alerts: batch.length,
        findings: batch.reduce((n, a) => n + a.count, 0),
      },
      'alerts not written',
    );
  }

  /** Puts alerts back in front of what arrived meanwhile, merging repeats. */
  #requeue(alerts: readonly PendingAlert[]): void {
    const arrived = this.#pending;
    this.#pending = new Map();
    for (const alert of alerts) this.#pending.set(alert.key, alert);
    for (const later of arrived.values()) {
      const earlier = this.#pending.get(later.key);
      if (!earlier) {
        if (this.#pending.size >= this.#maxPending) this.#lose(later.count);
        else this.#pending.set(later.key, later);
        continue;
      }
      earlier.count += later.count;
      if (later.firstSeen < earlier.firstSeen) earlier.firstSeen = later.firstSeen;
      if (later.lastSeen >= earlier.lastSeen) earlier.lastSeen = later.lastSeen;
      for (const region of later.regions) earlier.regions.add(region);
      earlier.last = later.last ?? later.first;
    }
  }

  #scheduleRetry(): void {
    this.#retryDelay = Math.min(
      MAX_RETRY_DELAY_MS,
      this.#retryDelay ? this.#retryDelay * 2 : this.#retryDelayMs,
    );
    // Whoever waits on findings now queued is answered: the retry is the writer's business.
    for (const resolve of this.#waiters.splice(0)) resolve();
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#writing ??= this.#writeAll();
    }, this.#retryDelay);
    this.#retryTimer.unref();
  }

  #lose(findings: number): void {
    this.#stats.lost += findings;
    this.#unloggedLost += findings;
  }

  #logLost(now: boolean): void {
    if (this.#unloggedLost === 0) return;
    const t = performance.now();
    if (!now && t - this.#lostLoggedAt < LOST_LOG_INTERVAL_MS) return;
    this.#logger?.error(
      { lost: this.#unloggedLost, lostInAll: this.#stats.lost },
      'alert findings lost: not stored',
    );
    this.#lostLoggedAt = t;
    this.#unloggedLost = 0;
  }
}

/** The arguments of openOrCountAlert for a pending alert: its first finding and the merged rest. */
function upsertOf(
  alert: PendingAlert,
): Parameters<typeof openOrCountAlert> extends [unknown, ...infer Rest] ? Rest : never {
  return [
    alert.first,
    {
      count: alert.count,
      firstSeen: alert.firstSeen,
      lastSeen: alert.lastSeen,
      regions: [...alert.regions].sort(),
      last: alert.last,
    },
  ];
}

/** The alert with nothing a presenter chose but its subject: codes for findings, no context. */
function bare(alert: PendingAlert): PendingAlert {
  const strip = (input: OpenAlertInput): OpenAlertInput => ({
    ...input,
    reasons: input.reasons.map((r) => ({ code: r.code, message: r.code })),
    context: undefined,
  });
  return { ...alert, first: strip(alert.first), last: alert.last && strip(alert.last) };
}
