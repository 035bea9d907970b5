/**
 * A circuit breaker in front of PostgreSQL. Without it, while the database is unreachable every
 * request waits for its own timeout, and a black hole (packets silently dropped, no reset) has no
 * timeout at all: PostgreSQL's statement_timeout cannot fire for a query it never received.
 *
 * The breaker watches every connect and query it is told about. When the database has answered
 * nothing for `stallAfterMs` while something waits, or a connection fails, it probes: a fresh
 * connection and `SELECT 1`. A failed probe opens the breaker (unless something else was answered
 * meanwhile: then the database is only slow): the operations still waiting are aborted (their
 * connections reset, their callers answered 503) and new ones are refused at once. While open it probes every `reprobeEveryMs` and closes on the
 * first answer, so the service recovers by itself within about that long of the database's return.
 *
 * A slow query on a healthy database is left alone: the probe answers, and only the query's own
 * deadline (`queryDeadlineMs`, past the server's statement_timeout) ever ends it.
 */
export interface DatabaseBreakerOptions {
  /** A fresh connection and a trivial query; rejects (or never settles) when the database cannot answer. */
  probe: () => Promise<void>;
  /** Nothing answered for this long while an operation waits: probe. */
  stallAfterMs?: number;
  /**
   * The probe must answer within this, or within five times the slowest of the last few probes
   * when that is longer (a busy machine is slow, not down), but never more than `maxProbeTimeoutMs`.
   * While open, each probe that runs out of time gives the next one twice as long (within the same
   * bound): a database that is up but slow to accept a connection (a starved machine after a
   * reset) is found again instead of being refused until the machine calms down.
   */
  probeTimeoutMs?: number;
  maxProbeTimeoutMs?: number;
  /** While open, probe this often. */
  reprobeEveryMs?: number;
  /**
   * No single operation waits longer than this: its connection is reset. Longer than the server's
   * statement_timeout, so it only fires when the server could not have answered (one connection
   * black-holed while the database itself answers probes).
   */
  queryDeadlineMs?: number;
  /** Told when the breaker opens (with why) and closes. */
  onChange?: (state: 'open' | 'closed', why: string) => void;
  now?: () => number;
}

/** The error callers see while the breaker is open (or when it aborted their operation). */
export class DatabaseUnavailableError extends Error {
  override readonly name = 'DatabaseUnavailableError';
  /** Recognised by `isDatabaseUnavailable` like the driver's connection errors. */
  readonly code = 'CERTMARK_DB_UNAVAILABLE';
}

/**
 * A new connection refused with object_not_in_prerequisite_state: the database exists but accepts
 * no connections now (`ALTER DATABASE … ALLOW_CONNECTIONS false`, as during maintenance). It is
 * unreachable for the service, as a server that is starting up is (57P03): 503 and the breaker,
 * not a 500. (The same code from a statement is no such thing, so only a connect is read so.)
 */
export function refusedAtConnect(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '55000';
}

/**
 * The database's own refusal behind an unavailability the pool (./postgres-pool) reported for a connect
 * refused with 55000, if that is what `error` is. At start it is no outage to wait out: the same
 * code names a database that never accepts connections (one left invalid by an interrupted
 * `DROP DATABASE`, `template0`, `ALLOW_CONNECTIONS false` left on), and a start that waited would
 * wait forever while its liveness probe answers.
 */
export function connectionRefusal(error: unknown): unknown {
  if (!(error instanceof DatabaseUnavailableError)) return undefined;
  return refusedAtConnect(error.cause) ? error.cause : undefined;
}

/** One connect or query the breaker is watching. */
export interface WatchedOperation {
  /** The database answered (rows, or an error of its own such as a constraint violation). */
  answered(): void;
  /** The operation failed without an answer from the database (a connection error). */
  failed(): void;
  /** Finished either way, without telling anything about the database (an idle client handed out). */
  done(): void;
}

interface Watched {
  readonly startedAt: number;
  /** Ends the operation now: its caller gets a DatabaseUnavailableError or a connection error. */
  readonly abort: () => void;
}

const PROBE_TIMED_OUT = new Error('probe timed out');

export class DatabaseBreaker {
  readonly #probe: () => Promise<void>;
  readonly #stallAfterMs: number;
  readonly #probeTimeoutMs: number;
  readonly #maxProbeTimeoutMs: number;
  /** How long the last successful probes took. */
  readonly #recentProbeMs: number[] = [];
  readonly #reprobeEveryMs: number;
  readonly #queryDeadlineMs: number;
  readonly #onChange: DatabaseBreakerOptions['onChange'];
  readonly #now: () => number;
  readonly #watched = new Set<Watched>();
  #open = false;
  #lastAnswerAt: number;
  #lastProbeAt = Number.NEGATIVE_INFINITY;
  /** Probes in a row that ran out of time while open. */
  #timedOutProbes = 0;
  #probing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: DatabaseBreakerOptions) {
    this.#probe = options.probe;
    this.#stallAfterMs = options.stallAfterMs ?? 1_000;
    this.#probeTimeoutMs = options.probeTimeoutMs ?? 1_000;
    this.#maxProbeTimeoutMs = options.maxProbeTimeoutMs ?? 2_500;
    this.#reprobeEveryMs = options.reprobeEveryMs ?? 500;
    this.#queryDeadlineMs = options.queryDeadlineMs ?? 20_000;
    this.#onChange = options.onChange;
    this.#now = options.now ?? Date.now;
    this.#lastAnswerAt = this.#now();
  }

  get isOpen(): boolean {
    return this.#open;
  }

  /** Throws at once while the breaker is open: a known-dead database is not waited for. */
  assertClosed(): void {
    if (this.#open) throw new DatabaseUnavailableError('the database is unreachable');
  }

  /** Starts watching an operation; `abort` must end it at once (reject it, reset its connection). */
  watch(abort: () => void): WatchedOperation {
    const entry: Watched = { startedAt: this.#now(), abort };
    this.#watched.add(entry);
    this.#ensureTimer();
    return {
      answered: () => {
        this.#watched.delete(entry);
        this.#lastAnswerAt = this.#now();
      },
      failed: () => {
        this.#watched.delete(entry);
        this.suspect();
      },
      done: () => {
        this.#watched.delete(entry);
      },
    };
  }

  /** Something suggests the database is gone (a connection error): probe now, once. */
  suspect(): void {
    if (this.#open || this.#probing) return;
    this.#runProbe('a connection failed');
  }

  /** Stops the watchdog (at shutdown); waiting operations are left to their own ends. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #ensureTimer(): void {
    if (this.#timer) return;
    const tickMs = Math.max(50, Math.min(250, this.#stallAfterMs / 4));
    this.#timer = setInterval(() => this.#tick(), tickMs);
    // The watchdog never keeps the process alive by itself.
    this.#timer.unref();
  }

  #tick(): void {
    const now = this.#now();
    if (this.#open) {
      if (!this.#probing && now - this.#lastProbeAt >= this.#reprobeEveryMs) {
        this.#runProbe('still unreachable');
      }
      return;
    }
    if (this.#watched.size === 0) {
      this.stop();
      return;
    }
    let oldest = now;
    for (const entry of this.#watched) {
      if (now - entry.startedAt > this.#queryDeadlineMs) {
        this.#watched.delete(entry);
        entry.abort();
      } else if (entry.startedAt < oldest) oldest = entry.startedAt;
    }
    const stalled =
      now - oldest > this.#stallAfterMs && now - this.#lastAnswerAt > this.#stallAfterMs;
    if (stalled && !this.#probing) this.#runProbe(`no answer for ${now - this.#lastAnswerAt} ms`);
  }

  #probeDeadlineMs(): number {
    const slowest = Math.max(0, ...this.#recentProbeMs);
    const deadline = Math.max(this.#probeTimeoutMs, 5 * slowest);
    const grown = this.#open ? deadline * 2 ** this.#timedOutProbes : deadline;
    return Math.min(this.#maxProbeTimeoutMs, grown);
  }

  #runProbe(why: string): void {
    const startedAt = this.#now();
    this.#lastProbeAt = startedAt;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(PROBE_TIMED_OUT), this.#probeDeadlineMs());
    });
    this.#probing = Promise.race([this.#probe(), deadline])
      .then(
        () => {
          this.#lastAnswerAt = this.#now();
          this.#timedOutProbes = 0;
          this.#recentProbeMs.push(this.#lastAnswerAt - startedAt);
          if (this.#recentProbeMs.length > 8) this.#recentProbeMs.shift();
          if (this.#open) {
            this.#open = false;
            this.#onChange?.('closed', 'the database answers again');
          }
        },
        (error: unknown) => {
          if (error === PROBE_TIMED_OUT && this.#open) this.#timedOutProbes += 1;
          // Something else was answered while the probe waited: the database is slow, not gone.
          if (!this.#open && this.#lastAnswerAt > startedAt) return;
          if (!this.#open) {
            this.#open = true;
            this.#onChange?.('open', why);
            this.#ensureTimer();
          }
          // Whatever still waits is waiting on a dead path: end it now rather than at its timeout.
          for (const entry of [...this.#watched]) {
            this.#watched.delete(entry);
            entry.abort();
          }
        },
      )
      .finally(() => {
        clearTimeout(timer);
        this.#probing = undefined;
      });
  }
}
