import type { Logger } from 'pino';
import pino from 'pino';
import type { Database } from '../db/client';
import { loggableError } from '../shared/loggable-error';
import { DELIVERY_QUEUE, QUEUE_SCHEMA } from './delivery-queue';
import { OUTBOX_CHANNEL } from './outbox';
import * as q from './subscriptions.queries';
import { unwrapSecret } from './subscriptions.service';
import { sendWebhook, type AttemptOutcome } from './webhook-sender';

/**
 * Deliveries in flight at once per instance. An attempt mostly waits on its receiver, so many cost
 * little; and each waits up to WEBHOOK_TIMEOUT_SECONDS on a receiver that never answers, so with
 * few, a handful of such receivers held every worker and delayed everyone else's deliveries (an
 * outside probe: 4 of 4 workers on 4 hanging receivers, a healthy one's events 15–47 s late).
 */
export const DELIVERY_CONCURRENCY = 16;

/** How often the queue is checked for deliveries whose job ended without their last attempt. */
const ORPHAN_CHECK_INTERVAL_MS = 60_000;
/** Handed over at least this long ago: a live job is in the queue by then (it is written first). */
const ORPHAN_AGE_MS = 10 * 60_000;

/** Deliveries are retried for at least this long before they are given up (issue 13: a day). */
export const RETRY_WINDOW_SECONDS = 24 * 3600;

/**
 * pg-boss's exponential backoff (plans.js, `retry_backoff`): before retry n (0-based) it waits
 * `delay · 2^min(16, n+1) / 2 · (1 + random)` seconds. The embedded drain waits the same.
 */
export function retryBackoffSeconds(
  retryCount: number,
  delaySeconds: number,
  random = Math.random(),
) {
  const base = (delaySeconds * 2 ** Math.min(16, retryCount + 1)) / 2;
  return base + base * random;
}

/**
 * The fewest retries whose shortest possible waits (random = 0) add up to `windowSeconds`: with a
 * 6 s delay, 14 retries (15 attempts) spread over 27 to 55 hours.
 */
export function retryLimitFor(delaySeconds: number, windowSeconds = RETRY_WINDOW_SECONDS): number {
  let waited = 0;
  let retries = 0;
  while (waited < windowSeconds) {
    waited += retryBackoffSeconds(retries, delaySeconds, 0);
    retries++;
  }
  return retries;
}

export interface WebhookDispatcherOptions {
  db: Database;
  /** PostgreSQL: pg-boss does the scheduling. PGlite (embedded): an in-process drain does. */
  kind: 'postgres' | 'pglite';
  /** The PostgreSQL URL pg-boss and the LISTEN connection use (kind `postgres`). */
  databaseUrl?: string | undefined;
  kek: Uint8Array;
  production: boolean;
  /** One attempt's limit, connect to answer. */
  timeoutMs: number;
  /** The backoff's base delay (see {@link retryBackoffSeconds}). */
  retryDelaySeconds: number;
  /** Deliveries sent at once by this instance (default {@link DELIVERY_CONCURRENCY}). */
  concurrency?: number;
  /** How often an idle pg-boss worker looks for a due retry (pg-boss's minimum is 0.5). */
  pollingIntervalSeconds?: number;
  /** How often to look for work missed by a notification (a notification lost with its connection). */
  /** How often deliveries whose job ended unrecorded are looked for (default 60 s). */
  orphanCheckIntervalMs?: number;
  sweepIntervalMs?: number;
  logger?: Logger;
  /** Wall-clock time: attempts are signed with it (receivers check it within minutes). */
  now?: () => Date;
}

interface PgBossLike {
  start(): Promise<unknown>;
  stop(options?: { graceful?: boolean; timeout?: number; wait?: boolean }): Promise<void>;
  on(event: 'error', handler: (error: Error) => void): unknown;
  createQueue(name: string, options?: Record<string, unknown>): Promise<void>;
  updateQueue(name: string, options?: Record<string, unknown>): Promise<void>;
  insert(jobs: { id: string; name: string; data: object; priority?: number }[]): Promise<void>;
  work(
    name: string,
    options: Record<string, unknown>,
    handler: (jobs: DeliveryJob[]) => Promise<void>,
  ): Promise<string>;
  notifyWorker(id: string): void;
}

interface DeliveryJob {
  id: string;
  data: { deliveryId: string };
  retryCount: number;
  retryLimit: number;
}

class DeliveryFailed extends Error {
  override readonly name = 'DeliveryFailed';
}

/**
 * Delivers the outbox (src/subscriptions/outbox.ts), at least once per delivery:
 *
 * - **PostgreSQL**: a relay hands pending deliveries to pg-boss (job id = delivery id, so handing
 *   one over twice after a crash makes one job), in a transaction that marks them queued; pg-boss
 *   workers send them and retry with exponential backoff for at least a day. A worker killed in the
 *   middle of an attempt leaves its job active until pg-boss expires it, then it is retried.
 * - **PGlite** (embedded, no `DATABASE_URL`): one process owns the database, so an in-process drain
 *   sends what is due and writes the next attempt's time on the row, with pg-boss's backoff.
 *
 * Either way the relay or drain wakes on the outbox's NOTIFY (sent at commit) and sweeps every few
 * seconds for what a lost notification would have missed; what was pending when the process
 * stopped is sent after the next start.
 */
export class WebhookDispatcher {
  readonly retryLimit: number;
  private readonly logger: Logger;
  private readonly now: () => Date;
  private boss: PgBossLike | undefined;
  private workerIds: string[] = [];
  private listener: { close(): Promise<void> } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private orphanTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(private readonly options: WebhookDispatcherOptions) {
    this.retryLimit = retryLimitFor(options.retryDelaySeconds);
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.now = options.now ?? (() => new Date());
  }

  async start(): Promise<void> {
    if (this.options.kind === 'postgres') await this.startQueue();
    this.listener = await this.listen();
    const interval =
      this.options.sweepIntervalMs ?? (this.options.kind === 'postgres' ? 5_000 : 1_000);
    this.timer = setInterval(() => this.wake(), interval);
    this.timer.unref();
    if (this.options.kind === 'postgres') {
      this.orphanTimer = setInterval(
        () => void this.endOrphans(),
        this.options.orphanCheckIntervalMs ?? ORPHAN_CHECK_INTERVAL_MS,
      );
      this.orphanTimer.unref();
    }
    this.wake();
  }

  /** Stops taking work; an attempt under way finishes (or, with pg-boss, is retried later). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearInterval(this.orphanTimer);
    await this.listener?.close().catch(() => {});
    await this.running?.catch(() => {});
    await Promise.allSettled([...this.inFlight]);
    await this.boss?.stop({ graceful: true, timeout: this.options.timeoutMs + 5_000, wait: true });
  }

  /** Looks for work now (coalesced: a wake during a pass runs one more pass). */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          if (this.options.kind === 'postgres') await this.relay();
          else await this.drain();
        } catch (error) {
          this.logger.warn({ err: loggableError(error) }, 'webhook outbox pass failed; retrying');
          break;
        }
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.running = undefined;
    });
  }

  private async startQueue(): Promise<void> {
    const { default: PgBoss } = await import('pg-boss');
    const boss = new PgBoss({
      connectionString: this.options.databaseUrl!,
      schema: QUEUE_SCHEMA,
      max: 4,
      application_name: 'certmark-webhooks',
      schedule: false,
      // An active job whose worker died is retried once it expires; maintenance looks every 30 s.
      maintenanceIntervalSeconds: 30,
    }) as unknown as PgBossLike;
    boss.on('error', (error) =>
      this.logger.warn({ err: loggableError(error) }, 'webhook queue error'),
    );
    await boss.start();
    const queue = {
      name: DELIVERY_QUEUE,
      retryLimit: this.retryLimit,
      retryDelay: this.options.retryDelaySeconds,
      retryBackoff: true,
      // Longer than an attempt can take, so only a dead worker's job expires.
      expireInSeconds: Math.ceil(this.options.timeoutMs / 1000) + 30,
      // Jobs outlive their retries, so a duplicate hand-over is still recognised by its id.
      retentionMinutes: 7 * 24 * 60,
    };
    await boss.createQueue(DELIVERY_QUEUE, queue);
    await boss.updateQueue(DELIVERY_QUEUE, queue);
    const workers = this.options.concurrency ?? DELIVERY_CONCURRENCY;
    for (let i = 0; i < workers; i++) {
      this.workerIds.push(
        await boss.work(
          DELIVERY_QUEUE,
          {
            includeMetadata: true,
            batchSize: 1,
            pollingIntervalSeconds: this.options.pollingIntervalSeconds ?? 2,
          },
          async ([job]) => {
            if (!job) return;
            const final = job.retryCount >= job.retryLimit;
            const outcome = await this.track(this.attempt(job.data.deliveryId, { final }));
            if (outcome && !outcome.ok) throw new DeliveryFailed(outcome.error ?? 'failed');
          },
        ),
      );
    }
    this.boss = boss;
  }

  /**
   * PostgreSQL: ends the deliveries whose job ended without their last attempt recorded
   * (endOrphanedDeliveries), among those handed over long enough ago that their job, if alive,
   * is in the queue. Returns how many.
   */
  async endOrphans(now = this.now()): Promise<number> {
    try {
      const ended = await q.endOrphanedDeliveries(
        this.options.db,
        new Date(now.getTime() - ORPHAN_AGE_MS),
      );
      if (ended > 0)
        this.logger.warn(
          { ended },
          'webhook deliveries ended: their last attempt was never recorded',
        );
      return ended;
    } catch (error) {
      this.logger.warn({ err: loggableError(error) }, 'webhook orphan check failed; retrying');
      return 0;
    }
  }

  /**
   * PostgreSQL: hands pending deliveries to pg-boss, a page at a time. Workers take the queue's
   * jobs by priority, then age; a job's priority is minus its subscriber's backlog when it was
   * handed over (q.lockUnqueuedDeliveries), so a subscriber with nothing outstanding goes ahead of
   * another's burst. A
   * receiver that never answers holds each worker it gets for a whole timeout: without this, a
   * burst of a thousand events to it held every worker for a thousand timeouts over the number of
   * workers, and everyone else's deliveries waited behind them; now another subscriber's waits for
   * the attempts under way at most.
   */
  private async relay(): Promise<void> {
    const boss = this.boss!;
    const page = 100;
    for (;;) {
      const ids = await this.options.db.transaction(async (tx) => {
        const locked = await q.lockUnqueuedDeliveries(tx, page);
        if (locked.length === 0) return [];
        await boss.insert(
          locked.map(({ id, backlog }) => ({
            id,
            name: DELIVERY_QUEUE,
            data: { deliveryId: id },
            priority: -backlog,
          })),
        );
        const ids = locked.map((d) => d.id);
        await q.markQueued(tx, ids, this.now());
        return ids;
      });
      if (ids.length > 0) for (const id of this.workerIds) boss.notifyWorker(id);
      if (ids.length < page || this.stopped) return;
    }
  }

  /** PGlite: sends the deliveries whose attempt is due, a few at a time. */
  private async drain(): Promise<void> {
    const concurrency = this.options.concurrency ?? DELIVERY_CONCURRENCY;
    for (;;) {
      const ids = await q.dueDeliveries(this.options.db, this.now(), concurrency);
      await Promise.all(ids.map((id) => this.track(this.attempt(id, { final: null }))));
      if (ids.length < concurrency || this.stopped) return;
    }
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.inFlight.add(work);
    return work.finally(() => this.inFlight.delete(work));
  }

  /**
   * One attempt at one delivery, recorded in its log. `final`: whether a failure is the last
   * (pg-boss knows); null lets the drain judge by the delivery's own count.
   */
  private async attempt(
    deliveryId: string,
    options: { final: boolean | null },
  ): Promise<AttemptOutcome | null> {
    const { db, kek } = this.options;
    const delivery = await q.deliveryToSend(db, deliveryId);
    if (!delivery) return null;
    const at = this.now();
    const outcome = await sendWebhook(
      {
        url: delivery.url,
        secret: unwrapSecret(kek, delivery.subscriptionId, delivery.secretWrapped),
        id: delivery.id,
        body: JSON.stringify(delivery.payload),
      },
      { production: this.options.production, timeoutMs: this.options.timeoutMs },
      () => at,
    );
    const final = options.final ?? delivery.attempts >= this.retryLimit;
    const next = outcome.ok
      ? ({ state: 'delivered' } as const)
      : final
        ? ({ state: 'failed' } as const)
        : ({
            state: 'pending',
            nextAttemptAt:
              this.options.kind === 'pglite'
                ? new Date(
                    at.getTime() +
                      1000 * retryBackoffSeconds(delivery.attempts, this.options.retryDelaySeconds),
                  )
                : null,
          } as const);
    await q.recordAttempt(db, {
      deliveryId,
      at,
      durationMs: outcome.durationMs,
      status: outcome.status,
      error: outcome.error,
      next,
    });
    if (!outcome.ok) {
      this.logger.info(
        { delivery: deliveryId, error: outcome.error, status: outcome.status, final },
        'webhook attempt failed',
      );
    }
    return outcome;
  }

  /** Wakes on the outbox's NOTIFY: a dedicated connection (PostgreSQL) or PGlite's own listen. */
  private async listen(): Promise<{ close(): Promise<void> }> {
    if (this.options.kind === 'pglite') {
      const client = (
        this.options.db as unknown as {
          $client: { listen(channel: string, fn: () => void): Promise<() => Promise<void>> };
        }
      ).$client;
      const unlisten = await client.listen(OUTBOX_CHANNEL, () => this.wake());
      return { close: () => unlisten() };
    }
    const { default: pg } = await import('pg');
    const connection = new pg.Client({
      connectionString: this.options.databaseUrl!,
      application_name: 'certmark-webhooks-listen',
    });
    // A lost LISTEN connection only slows delivery to the sweep's pace; it is not fatal.
    connection.on('error', (error) =>
      this.logger.warn({ err: loggableError(error) }, 'webhook notification connection lost'),
    );
    connection.on('notification', () => this.wake());
    await connection.connect();
    await connection.query(`LISTEN ${OUTBOX_CHANNEL}`);
    return { close: () => connection.end() };
  }
}
