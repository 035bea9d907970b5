import type { Logger } from 'pino';
import type { Database } from '../db/client';
import { tryRunLock } from '../db/run-lock';
import { isDatabaseUnavailable } from '../errors';
import { loggableError } from '../shared/loggable-error';

/** Namespace of the import advisory locks (the audit log and migrations use other keys). */
const IMPORT_LOCK_NAMESPACE = 'certmark/certificate-import/';

export interface ImportRunnerOptions {
  /** Imports worked through at once by this process; more wait in line. */
  readonly concurrency?: number;
  /** First wait before retrying while the database is unreachable; doubles up to the max. */
  readonly retryDelayMs?: number;
  readonly maxRetryDelayMs?: number;
  readonly logger?: Logger | undefined;
}

/**
 * Runs imports in the background, each under a session advisory lock (src/db/run-lock.ts), and
 * not on pg-boss: an import's progress is its own row (`last_row`, moved in each chunk's
 * transaction), so all a job needs is "one live process at a time" (a session advisory lock,
 * released by PostgreSQL when its process dies) and "resume at start" — which also works on the
 * embedded PGlite, where pg-boss does not run. An outage never fails an import: it goes on where
 * it was once the database is back. Any other error ends it as failed, with its report so far.
 */
export class ImportRunner {
  private readonly active = new Map<string, Promise<void>>();
  private readonly waiting: (() => void)[] = [];
  private running = 0;
  /** Set by stop(): no chunk is started any more; an import stays where it is, to be resumed. */
  stopping = false;
  private signalStop = () => {};
  /** Resolves at stop(): a retry waiting for the database ends then, not at its own time. */
  private readonly stopped = new Promise<void>((resolve) => (this.signalStop = resolve));

  constructor(
    private readonly db: Database,
    private readonly work: (importId: string) => Promise<void>,
    private readonly fail: (importId: string, reason: string) => Promise<void>,
    private readonly options: ImportRunnerOptions = {},
  ) {}

  /** Runs the import (queued behind others); resolves when its job stops. */
  run(importId: string): Promise<void> {
    const existing = this.active.get(importId);
    if (existing) return existing;
    const finished = new Promise<void>((resolve) => {
      const start = () => {
        this.running += 1;
        this.runWithRetries(importId).finally(() => {
          this.running -= 1;
          this.active.delete(importId);
          this.waiting.shift()?.();
          resolve();
        });
      };
      if (this.running < (this.options.concurrency ?? 1)) start();
      else this.waiting.push(start);
    });
    this.active.set(importId, finished);
    return finished;
  }

  /**
   * Shutdown: each job stops after the chunk it is writing (committed whole or rolled back whole)
   * without ending its import, which the next start (of this or any instance) takes up again.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.signalStop();
    // Those waiting in line start only to see that they are to stop.
    for (const start of this.waiting.splice(0)) start();
    await this.idle();
  }

  /** Resolves when every import this process is running has stopped (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.active.size > 0) await Promise.all([...this.active.values()]);
  }

  private async runWithRetries(importId: string): Promise<void> {
    const maxDelay = this.options.maxRetryDelayMs ?? 10_000;
    for (let delay = this.options.retryDelayMs ?? 2_000; ; delay = Math.min(delay * 2, maxDelay)) {
      if (this.stopping) return;
      try {
        const lock = await tryRunLock(this.db, `${IMPORT_LOCK_NAMESPACE}${importId}`);
        if (!lock) return; // a live process is running it
        try {
          await this.work(importId);
        } finally {
          await lock.release();
        }
        return;
      } catch (error) {
        // Stopped mid-chunk (the pool closing under it): the import is resumed at the next start.
        if (this.stopping) return;
        if (isDatabaseUnavailable(error)) {
          await Promise.race([new Promise((resolve) => setTimeout(resolve, delay)), this.stopped]);
          continue;
        }
        this.options.logger?.error({ importId, err: loggableError(error) }, 'import failed');
        await this.fail(importId, 'the import could not be completed; send the rows again').catch(
          () => {},
        );
        return;
      }
    }
  }
}
