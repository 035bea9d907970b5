import type { Logger } from 'pino';
import type { Database } from '../db/client';
import { insertScanLog, type ScanLogEntry } from './mark-verification.queries';

export interface ScanRecorderOptions {
  /** How long an entry may wait in the buffer. */
  readonly flushIntervalMs?: number;
  /** The buffer's bound: beyond it new entries are dropped (and counted) rather than held. */
  readonly maxBuffered?: number;
  /** Rows per INSERT. */
  readonly rowsPerInsert?: number;
  readonly logger?: Logger | undefined;
}

/**
 * The detailed scan log, written behind the answer: entries wait in a bounded in-process buffer and
 * are flushed every `flushIntervalMs` with multi-row INSERTs, so a verification never waits for
 * its log line. What must be exact across instances (the scan count, the first scan, the clone
 * flag) is not here: it is updated atomically on the mark row while answering. A crash loses at
 * most the last interval of log lines; a database outage drops them (counted in `dropped`).
 */
export class ScanRecorder {
  private buffer: ScanLogEntry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  /** Entries lost to a full buffer or a failed write. */
  dropped = 0;
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
  }

  record(entry: ScanLogEntry): void {
    if (this.buffer.length >= this.maxBuffered) {
      this.dropped += 1;
      return;
    }
    this.buffer.push(entry);
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.flushIntervalMs);
      // A buffered log line never keeps the process alive on its own.
      this.timer.unref();
    }
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
    for (let start = 0; start < entries.length; start += this.rowsPerInsert) {
      const rows = entries.slice(start, start + this.rowsPerInsert);
      try {
        await insertScanLog(this.db, rows);
      } catch (error) {
        this.dropped += rows.length;
        this.options.logger?.warn(
          { err: (error as Error).message, lost: rows.length },
          'scan log write failed',
        );
      }
    }
  }
}
