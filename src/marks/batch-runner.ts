import type { Logger } from 'pino';
import type { Database } from '../db/client';
import type { Clock } from '../clock';
import { systemActor } from '../auth/principal';
import { appendAuditEntry } from '../audit/audit.queries';
import { generateSerial } from '../crypto/serial';
import { isDatabaseUnavailable } from '../errors';
import { loggableError } from '../shared/loggable-error';
import { tryRunLock } from '../db/run-lock';
import * as batches from './batches.queries';

export interface BatchRunnerOptions {
  /** Marks written per transaction. */
  readonly chunkSize?: number;
  /** Batches filled at once by this process; more wait in line. */
  readonly concurrency?: number;
  /**
   * How long to wait before retrying when the database is unreachable; the wait doubles up to
   * `maxRetryDelayMs`. An outage never fails a batch: it is filled once the database is back.
   */
  readonly retryDelayMs?: number;
  readonly maxRetryDelayMs?: number;
  readonly logger?: Logger | undefined;
}

/** A fill in progress: `interrupted` resolves when the database first dropped out under it. */
interface Job {
  readonly finished: Promise<void>;
  readonly interrupted: Promise<void>;
}

/** Namespace of the batch advisory locks (the audit log and migrations use other keys). */
const BATCH_LOCK_NAMESPACE = 'certmark/mark-batch/';

/** The fills of this process: batches being filled or waiting, and their marks (see progress). */
export interface BatchProgress {
  running: number;
  queued: number;
  /** Marks the running fills were asked for, and how many of them are written, as last seen. */
  marksRequested: number;
  marksDone: number;
  /** Marks this process has written since it started. */
  marksWritten: number;
}

/**
 * Fills mark batches in the background. Each chunk is one transaction that locks the batch row,
 * writes fresh random serials with one multi-row INSERT (a colliding serial is skipped and topped
 * up by the next chunk) and advances `done` by exactly what was written, so progress is exact and
 * a batch is never over-filled, however many runners there are. A batch becomes `done` (and its
 * marks verifiable) only when all `count` marks are written.
 */
export class BatchRunner {
  private readonly active = new Map<string, Job>();
  /** Each running fill's batch size and marks written, updated after each chunk commits. */
  private readonly filling = new Map<string, { count: number; done: number }>();
  private marksWritten = 0;
  /** Set by stop(): no chunk is started any more, and waiting retries end. */
  private stopping = false;
  private signalStop = () => {};
  private readonly stopped = new Promise<void>((resolve) => (this.signalStop = resolve));
  private readonly waiting: { batchId: string; start: () => void }[] = [];
  private running = 0;
  private readonly chunkSize: number;
  private readonly concurrency: number;
  private readonly retryDelayMs: number;
  private readonly maxRetryDelayMs: number;

  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly options: BatchRunnerOptions = {},
  ) {
    this.chunkSize = options.chunkSize ?? 20_000;
    this.concurrency = options.concurrency ?? 2;
    this.retryDelayMs = options.retryDelayMs ?? 2_000;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 10_000;
  }

  /**
   * Fills the batch, queued behind others when this process is busy (`now`: at once, for a small
   * batch a request is waiting for); resolves when the job stops.
   */
  fill(batchId: string, options: { now?: boolean } = {}): Promise<void> {
    return this.job(batchId, options).finished;
  }

  /**
   * Fills a small batch while a request waits: 'done' when the job stopped, or 'deferred' as soon
   * as the database drops out midway, so the request is answered at once (202, like a large batch)
   * while the job goes on filling the batch in the background once the database is back.
   */
  async fillWhileWaiting(batchId: string): Promise<'done' | 'deferred'> {
    const job = this.job(batchId, { now: true });
    return Promise.race([
      job.finished.then(() => 'done' as const),
      job.interrupted.then(() => 'deferred' as const),
    ]);
  }

  private job(batchId: string, options: { now?: boolean }): Job {
    const existing = this.active.get(batchId);
    if (existing) return existing;
    let interrupt = () => {};
    const interrupted = new Promise<void>((resolve) => (interrupt = resolve));
    const finished = new Promise<void>((resolve) => {
      const start = () => {
        this.running += 1;
        this.runWithRetries(batchId, interrupt)
          .catch((error: unknown) =>
            this.options.logger?.error({ batchId, err: loggableError(error) }, 'mark batch failed'),
          )
          .finally(() => {
            this.running -= 1;
            this.active.delete(batchId);
            this.waiting.shift()?.start();
            resolve();
          });
      };
      if (options.now || this.running < this.concurrency) start();
      else this.waiting.push({ batchId, start });
    });
    const job = { finished, interrupted };
    this.active.set(batchId, job);
    return job;
  }

  progress(): BatchProgress {
    let marksRequested = 0;
    let marksDone = 0;
    for (const batch of this.filling.values()) {
      marksRequested += batch.count;
      marksDone += batch.done;
    }
    return {
      running: this.running,
      queued: this.waiting.length,
      marksRequested,
      marksDone,
      marksWritten: this.marksWritten,
    };
  }

  /**
   * Shutdown: each fill stops after the chunk it is writing (committed whole, or rolled back
   * whole), without ending its batch, and releases its lock, so the batch stays `running` with an
   * exact `done` and the next start (of this or any instance) fills it to the end. Batches waiting
   * in line are left for that start too.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.signalStop();
    for (const waiting of this.waiting.splice(0)) waiting.start();
    await this.idle();
  }

  /** Resolves when every batch this process is filling has stopped. */
  async idle(): Promise<void> {
    while (this.active.size > 0)
      await Promise.all([...this.active.values()].map((j) => j.finished));
  }

  private async runWithRetries(batchId: string, interrupted: () => void): Promise<void> {
    for (let delay = this.retryDelayMs; ; delay = Math.min(delay * 2, this.maxRetryDelayMs)) {
      try {
        await this.run(batchId);
        return;
      } catch (error) {
        // Each chunk is its own transaction: what was written stays, what was not is written on
        // the next attempt, and the batch becomes `done` only at its exact count.
        if (isDatabaseUnavailable(error)) {
          interrupted();
          if (this.stopping) return;
          await Promise.race([new Promise((r) => setTimeout(r, delay)), this.stopped]);
          if (this.stopping) return;
          continue;
        }
        // Stopped mid-chunk (the pool closing under it): the batch is resumed at the next start.
        if (this.stopping) return;
        this.options.logger?.error({ batchId, err: loggableError(error) }, 'mark batch failed');
        await this.finish(
          batchId,
          'failed',
          'the batch could not be completed; issue a new one',
        ).catch(() => {});
        return;
      }
    }
  }

  private async run(batchId: string): Promise<void> {
    if (this.stopping) return;
    const lock = await tryRunLock(this.db, `${BATCH_LOCK_NAMESPACE}${batchId}`);
    if (!lock) return; // a live process is filling it
    try {
      const batch = await batches.findBatch(this.db, batchId);
      if (!batch || batch.status === 'done' || batch.status === 'failed') return;
      if (batch.status === 'pending') await batches.startBatch(this.db, batchId);
      for (;;) {
        const chunk = await this.db.transaction(async (tx) => {
          const state = await batches.lockBatchForFill(tx, batchId);
          if (!state || (state.status !== 'pending' && state.status !== 'running')) return null;
          const wanted = Math.min(this.chunkSize, state.count - state.done);
          if (wanted <= 0) return null;
          const written = await batches.insertMarkChunk(tx, {
            batchId,
            certificateId: state.certificateId,
            serials: freshSerials(wanted),
            firstOrdinal: state.lastOrdinal + 1,
          });
          return { count: state.count, done: state.done + written, written };
        });
        if (!chunk) break;
        this.marksWritten += chunk.written;
        this.filling.set(batchId, { count: chunk.count, done: chunk.done });
        if (chunk.done >= chunk.count) break;
        if (this.stopping) return;
        // Let waiting requests run between chunks.
        await new Promise((resolve) => setImmediate(resolve));
      }
      await this.finish(batchId, 'done', null);
    } finally {
      this.filling.delete(batchId);
      await lock.release();
    }
  }

  /** Ends a batch (once: a batch already ended stays as it is), with its audit entry. */
  private async finish(
    batchId: string,
    status: 'done' | 'failed',
    error: string | null,
  ): Promise<void> {
    const at = this.clock.now();
    await this.db.transaction(async (tx) => {
      const ended = await batches.endBatch(tx, { id: batchId, status, at, error });
      if (ended === undefined) return;
      await appendAuditEntry(tx, at, {
        actor: systemActor,
        action: status === 'done' ? 'mark.batch.done' : 'mark.batch.failed',
        subjectType: 'mark_batch',
        subjectId: batchId,
        change: { status, done: ended.done, ...(error ? { error } : {}) },
      });
    });
  }
}

/** `n` distinct random serials (14 random digits + ISO 7064 check digits each). */
function freshSerials(n: number): string[] {
  const serials = new Set<string>();
  while (serials.size < n) serials.add(generateSerial());
  return [...serials];
}
