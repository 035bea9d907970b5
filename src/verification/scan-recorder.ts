import type { Logger } from 'pino';
import type { Database } from '../db/client';
import { isDatabaseUnavailable } from '../errors';
import { flushWithin } from '../db/retry';
import { loggableError } from '../shared/loggable-error';
import {
  ensureScanLogMonth,
  insertScanLog,
  isMissingScanLogPartition,
  type ScanLogEntry,
} from '../marks/scan-log.queries';

export interface ScanRecorderOptions {
  /** How long an entry may wait in the buffer. */
  readonly flushIntervalMs?: number;
  /** The buffer's bound: beyond it new entries are dropped (and counted) rather than held. */
  readonly maxBuffered?: number;
  /** Rows per INSERT. */
  readonly rowsPerInsert?: number;
  /** While the database is unreachable, how often the held entries are tried again. */
  readonly retryIntervalMs?: number;
  readonly logger?: Logger | undefined;
  /** Told after each flush that wrote entries: how long it took and how many it wrote. */
  readonly onFlushed?: ((seconds: number, written: number) => void) | undefined;
}

/**
 * The detailed scan log, written behind the answer: entries wait in a bounded in-process buffer and
 * are flushed every `flushIntervalMs` with multi-row INSERTs, so a verification never waits for
 * its log line. What must be exact across instances (the scan count, the first scan, the clone
 * flag) is not here: it is updated atomically on the mark row while answering.
 *
 * What can be lost, and when: while the database is unreachable the entries stay in the buffer and
 * are written when it is back, so an outage loses nothing unless it outlasts the buffer
 * (`maxBuffered` entries; the newest are then dropped, counted in `dropped` and logged). A process
 * that dies loses what is buffered (normally one interval's worth; during an outage, all of it).
 * A connection reset between an INSERT's commit and its reply makes the retry write those rows
 * twice: the log is at least once, the counts on the mark row exact.
 */
export class ScanRecorder {
  private buffer: ScanLogEntry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  /** Entries lost to a full buffer or a failed write. */
  dropped = 0;
  /** Entries written to the scan log. */
  written = 0;
  private readonly flushIntervalMs: number;
  private readonly maxBuffered: number;
  private readonly rowsPerInsert: number;

  constructor(
    private readonly db: Database,
    private readonly options: ScanRecorderOptions = {},
  ) {
    this.flushIntervalMs = options.flushIntervalMs ?? 100;
    this.maxBuffered = options.maxBuffered ?? 20_000;
    this.rowsPerInsert = options.rowsPerInsert ?? 2_000;
    this.retryIntervalMs = options.retryIntervalMs ?? 1_000;
  }

  private readonly retryIntervalMs: number;

  /** Entries waiting in the buffer to be written. */
  get buffered(): number {
    return this.buffer.length;
  }

  record(entry: ScanLogEntry): void {
    if (this.buffer.length >= this.maxBuffered) {
      this.dropped += 1;
      return;
    }
    this.buffer.push(entry);
    this.schedule(this.flushIntervalMs);
  }

  private schedule(delayMs: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, delayMs);
    // A buffered log line never keeps the process alive on its own.
    this.timer.unref();
  }

  /** Writes everything buffered so far; resolves when it is written (or dropped). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const entries = this.buffer;
    this.buffer = [];
    // Flushes run one after another, so log lines reach the table in the order they were taken.
    this.flushing = this.flushing.then(() => this.write(entries));
    return this.flushing;
  }

  private async write(entries: ScanLogEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const started = performance.now();
    const writtenBefore = this.written;
    try {
      await this.writeRows(entries);
    } finally {
      const written = this.written - writtenBefore;
      if (written > 0) this.options.onFlushed?.((performance.now() - started) / 1000, written);
    }
  }

  private async writeRows(entries: ScanLogEntry[]): Promise<void> {
    for (let start = 0; start < entries.length; start += this.rowsPerInsert) {
      const rows = entries.slice(start, start + this.rowsPerInsert);
      try {
        await this.insert(rows);
        this.written += rows.length;
      } catch (error) {
        if (isDatabaseUnavailable(error)) {
          this.holdForRetry(entries.slice(start));
          return;
        }
        // Not the database's absence: these rows would fail again. Logged without their content.
        this.dropped += rows.length;
        this.options.logger?.warn(
          { err: loggableError(error), lost: rows.length },
          'scan log write failed',
        );
      }
    }
  }

  /**
   * One multi-row INSERT. Partitions are made months ahead; an entry of a month without one (a
   * clock far off, a month past retention) has its month created, and the INSERT runs again.
   */
  private async insert(rows: ScanLogEntry[]): Promise<void> {
    try {
      await insertScanLog(this.db, rows);
    } catch (error) {
      if (!isMissingScanLogPartition(error)) throw error;
      const months = new Map(
        rows.map((row) => [`${row.at.getUTCFullYear()}-${row.at.getUTCMonth()}`, row.at]),
      );
      for (const instant of months.values()) await ensureScanLogMonth(this.db, instant);
      await insertScanLog(this.db, rows);
    }
  }

  /**
   * Shutdown: writes everything buffered, trying again while the database is away until
   * `withinMs` have passed (flushWithin). What is still unwritten then is lost: counted in
   * `dropped` and logged by count.
   */
  async close(withinMs: number): Promise<void> {
    await flushWithin(
      () => this.flush(),
      () => this.buffer.length > 0,
      withinMs,
      Math.min(this.retryIntervalMs, 200),
    );
    clearTimeout(this.timer);
    this.timer = undefined;
    const lost = this.buffer.length;
    if (lost === 0) return;
    this.buffer = [];
    this.dropped += lost;
    this.options.logger?.error(
      { lost },
      'scan log lines lost at shutdown: the database could not be reached in time',
    );
  }

  /** Puts unwritten entries back ahead of newer ones (within the bound) and tries again later. */
  private holdForRetry(unwritten: ScanLogEntry[]): void {
    const kept = [...unwritten, ...this.buffer];
    const overflow = kept.length - this.maxBuffered;
    if (overflow > 0) {
      this.dropped += overflow;
      this.options.logger?.warn(
        { lost: overflow },
        'scan log buffer full while the database is unreachable',
      );
    }
    this.buffer = overflow > 0 ? kept.slice(0, this.maxBuffered) : kept;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.schedule(this.retryIntervalMs);
  }
}
