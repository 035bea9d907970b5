import type { Logger } from 'pino';
import type { Clock } from '../clock';
import type { Database } from '../db/client';
import { loggableError } from '../shared/loggable-error';
import {
  detachScanLogPartition,
  dropDetachedScanLogPartition,
  ensureScanLogMonth,
  scanLogPartitions,
} from './scan-log.queries';

const DAY_MS = 86_400_000;
/** Months created ahead of the current one: a scan never waits for its partition. */
const MONTHS_AHEAD = 2;

/**
 * The instant after which a partition holds no row, read from its name: `mark_scans_YYYY_MM`
 * holds that month (UTC), `mark_scans_before_YYYY_MM` everything before it. Undefined for a name
 * of neither form (never dropped).
 */
export function partitionEnd(name: string): Date | undefined {
  const match = /^mark_scans_(before_)?(\d{4})_(\d{2})$/.exec(name);
  if (!match) return undefined;
  const year = Number(match[2]);
  const month = Number(match[3]) - 1;
  return new Date(Date.UTC(year, match[1] ? month : month + 1, 1));
}

export interface ScanLogPartitionsOptions {
  db: Database;
  clock: Clock;
  /** Undefined keeps every scan (SCAN_RETENTION_DAYS unset). */
  retentionDays: number | undefined;
  logger?: Logger | undefined;
  /** How often `maintain` runs once started. */
  intervalMs?: number;
}

/**
 * Keeps the scan log's monthly partitions (SPEC "Service": SCAN_RETENTION_DAYS): creates this
 * month's and the next two ahead, and drops the partitions whose every row is older than the
 * retention. A partition leaves with DETACH PARTITION … CONCURRENTLY, then DROP TABLE: the
 * detach never takes more than a SHARE UPDATE EXCLUSIVE lock on mark_scans, so verifications keep
 * writing and histories keep reading meanwhile. Safe on several instances at once: creation and
 * removal are idempotent, and a detach another instance began is finished (FINALIZE).
 */
export class ScanLogPartitions {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly options: ScanLogPartitionsOptions) {}

  /** Creates the months ahead and drops the expired ones. Returns the partitions dropped. */
  async maintain(): Promise<string[]> {
    const now = this.options.clock.now();
    for (let ahead = 0; ahead <= MONTHS_AHEAD; ahead++) {
      await ensureScanLogMonth(
        this.options.db,
        new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + ahead, 1)),
      );
    }
    return this.dropExpired(now);
  }

  /** Drops every partition that holds no row at or after `now` minus the retention. */
  async dropExpired(now: Date): Promise<string[]> {
    if (this.options.retentionDays === undefined) return [];
    const cutoff = now.getTime() - this.options.retentionDays * DAY_MS;
    const dropped: string[] = [];
    for (const partition of await scanLogPartitions(this.options.db)) {
      const end = partitionEnd(partition.name);
      if (!end || end.getTime() > cutoff) continue;
      await detachScanLogPartition(this.options.db, partition);
      await dropDetachedScanLogPartition(this.options.db, partition.name);
      dropped.push(partition.name);
    }
    if (dropped.length > 0)
      this.options.logger?.info(
        { partitions: dropped },
        'scan log partitions past retention dropped',
      );
    return dropped;
  }

  /** Runs `maintain` now and then every `intervalMs` (an hour) until `stop`. */
  start(): void {
    const run = () => {
      this.running ??= this.maintain()
        .then(() => undefined)
        .catch((error: unknown) =>
          this.options.logger?.warn({ err: loggableError(error) }, 'scan log maintenance failed'),
        )
        .finally(() => {
          this.running = undefined;
        });
    };
    run();
    this.timer = setInterval(run, this.options.intervalMs ?? 3_600_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
