import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/client';
import { isDatabaseUnavailable } from '../../src/errors';
import { startFaultProxy } from '../fault-proxy';
import { createTestDatabase } from '../helpers';

const POOL = 3;

describe('connections lost as transactions begin', () => {
  it('are given back to the pool: once the database is back, every connection can be lent again', async () => {
    const database = await createTestDatabase();
    const url = new URL(database.url);
    const proxy = await startFaultProxy({ host: url.hostname, port: Number(url.port || 5432) });
    const handle = await openDatabase({
      databaseUrl: proxy.urlFor(database.url),
      dataDir: '',
      maxConnections: POOL,
    });
    const transaction = () =>
      handle.db.transaction(async (tx) => {
        await tx.execute(sql`SELECT pg_sleep(0.05)`);
      });
    try {
      // Every connection of the pool open and idle, then cut off: each transaction takes one and
      // sends BEGIN into the void, and the breaker resets it (drizzle sends BEGIN before the
      // `try` whose `finally` releases the connection).
      await Promise.all(Array.from({ length: POOL }, transaction));
      proxy.blackhole();
      const lost = await Promise.allSettled(Array.from({ length: POOL }, transaction));
      for (const outcome of lost) {
        expect(outcome.status).toBe('rejected');
        expect(isDatabaseUnavailable((outcome as PromiseRejectedResult).reason)).toBe(true);
      }
      await proxy.heal();
      // Back: the pool must lend all its connections again (a client never given back would keep
      // its slot, and with every slot so held each connect times out).
      const deadline = Date.now() + 8_000;
      let outcomes: PromiseSettledResult<void>[] = [];
      do {
        outcomes = await Promise.allSettled(Array.from({ length: POOL }, transaction));
        if (outcomes.every((o) => o.status === 'fulfilled')) break;
        await new Promise((resolve) => setTimeout(resolve, 250));
      } while (Date.now() < deadline);
      expect(outcomes.map((o) => o.status)).toEqual(Array(POOL).fill('fulfilled'));
    } finally {
      await proxy.close();
      // A pool that never got its clients back would wait for them for ever.
      await Promise.race([
        handle.close().catch(() => {}),
        new Promise((resolve) => setTimeout(resolve, 2_000)),
      ]);
      await database.drop();
    }
  }, 30_000);
});
