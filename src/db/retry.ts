import { setTimeout as sleep } from 'node:timers/promises';
import { isDatabaseUnavailable } from '../errors';

/**
 * Runs `operation`, and again after each of `delaysMs` while it fails because the database could
 * not be reached (a reset connection is replaced by the pool at once; a database that stays away
 * fails it for good after the last delay). Any other error is thrown at once.
 *
 * @example const row = await retryWhileUnavailable(() => findBatch(db, id), [50, 200, 750]);
 */
export async function retryWhileUnavailable<T>(
  operation: () => Promise<T>,
  delaysMs: readonly number[],
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      const delay = delaysMs[attempt];
      if (delay === undefined || !isDatabaseUnavailable(error)) throw error;
      await sleep(delay);
    }
  }
}
