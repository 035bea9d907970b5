import { setTimeout as sleep } from 'node:timers/promises';
import { isDatabaseUnavailable, isStatementTimeout } from '../errors';

export interface RetryOptions {
  /** The waits before each further try. */
  delaysMs: readonly number[];
  /** No try starts later than this after the first: a slow failure does not multiply. */
  withinMs: number;
}

/**
 * Runs `operation`, and again after each of `delaysMs` while it fails because the database could
 * not be reached (a reset connection is replaced by the pool at once; a database that stays away
 * fails it for good after the last delay, or once `withinMs` have passed). A statement that ran
 * out of time (query_canceled) is a busy server, not a lost one: trying it again would only add to
 * its load, so it fails at once, as does any other error.
 *
 * @example const row = await retryWhileUnavailable(() => findBatch(db, id), { delaysMs: [50, 200], withinMs: 1500 });
 */
export async function retryWhileUnavailable<T>(
  operation: () => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const started = performance.now();
  for (let attempt = 0; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      const delay = options.delaysMs[attempt];
      if (
        delay === undefined ||
        performance.now() - started + delay > options.withinMs ||
        !isDatabaseUnavailable(error) ||
        isStatementTimeout(error)
      ) {
        throw error;
      }
      await sleep(delay);
    }
  }
}

/**
 * A writer's last flushes at shutdown: runs `flush`, and again at most every `everyMs` while
 * `unwritten()` says something is still waiting (the database away: the flush held it for a
 * retry), until `withinMs` have passed. What is left then is the caller's to count as lost: a
 * retry timer would never fire in a process about to exit.
 *
 * @example await flushWithin(() => recorder.flush(), () => recorder.buffered > 0, 2_000);
 */
export async function flushWithin(
  flush: () => Promise<void>,
  unwritten: () => boolean,
  withinMs: number,
  everyMs = 200,
): Promise<void> {
  const deadline = performance.now() + withinMs;
  await flush();
  while (unwritten()) {
    const wait = Math.min(everyMs, deadline - performance.now());
    if (wait <= 0) return;
    await sleep(wait);
    await flush();
  }
}
