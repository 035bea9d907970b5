import pg from 'pg';
import { isDatabaseUnavailable } from '../errors';
import { DatabaseBreaker, DatabaseUnavailableError, refusedAtConnect } from './database-breaker';

/**
 * Timeouts of every PostgreSQL connection, so that an unreachable database (reset, refused or
 * silently black-holed) costs a request a few seconds at most, and a session the service lost
 * cannot hold locks for long.
 */
export const POSTGRES_TIMEOUTS = {
  /** A new connection must be up within this (connect, TLS, authentication). */
  connectMs: 3_000,
  /** The server cancels a statement that runs longer (answered 503 like any unavailability). */
  statementMs: 15_000,
  /**
   * The server ends a session idle inside a transaction this long. The service never waits between
   * the statements of a transaction, so this only fires for a session whose client is gone (a
   * process killed or cut off mid-transaction): its row and advisory locks are freed for the
   * other instances after this long instead of whenever TCP notices.
   */
  idleInTransactionMs: 5_000,
  /** TCP keepalive on the service's side of each connection. */
  keepAliveInitialDelayMs: 10_000,
  /** The same on PostgreSQL's side (seconds): it ends the sessions of a client that vanished. */
  serverKeepalives: { idle: 10, interval: 5, count: 3 },
} as const;

/**
 * How the breaker decides (see DatabaseBreaker): look after 0.75 s of silence, give the probe 1 s
 * (up to 2.5 s when probes have been slow, or while open and they keep running out of time).
 */
export const BREAKER_TIMING = {
  stallAfterMs: 750,
  probeTimeoutMs: 1_000,
  maxProbeTimeoutMs: 2_500,
  reprobeEveryMs: 500,
  /** Past statement_timeout: fires only for a connection the server could not have answered. */
  queryDeadlineMs: POSTGRES_TIMEOUTS.statementMs + 5_000,
} as const;

export interface PostgresPoolOptions {
  url: string;
  max: number;
  onBreakerChange?: (state: 'open' | 'closed', why: string) => void;
}

export interface GuardedPostgres {
  readonly pool: pg.Pool;
  readonly breaker: DatabaseBreaker;
}

/**
 * A `pg` pool whose every client has its errors handled and whose every connect and query the
 * breaker watches. `pg` emits 'error' on a client whose connection drops; the pool listens only
 * while the client is idle, so a reset while a client is checked out (a transaction, a batch's lock
 * connection) would end the process with "Unhandled 'error' event". Here each client listens for
 * its whole life, and the query in flight fails with a connection error that answers 503.
 */
export function createPostgresPool(options: PostgresPoolOptions): GuardedPostgres {
  const connection = {
    connectionString: options.url,
    keepAlive: true,
    keepAliveInitialDelayMillis: POSTGRES_TIMEOUTS.keepAliveInitialDelayMs,
    statement_timeout: POSTGRES_TIMEOUTS.statementMs,
    idle_in_transaction_session_timeout: POSTGRES_TIMEOUTS.idleInTransactionMs,
    options: [
      `-c tcp_keepalives_idle=${POSTGRES_TIMEOUTS.serverKeepalives.idle}`,
      `-c tcp_keepalives_interval=${POSTGRES_TIMEOUTS.serverKeepalives.interval}`,
      `-c tcp_keepalives_count=${POSTGRES_TIMEOUTS.serverKeepalives.count}`,
    ].join(' '),
  };
  const breaker = new DatabaseBreaker({
    ...BREAKER_TIMING,
    // The breaker's own deadline decides when a probe has failed; the client's timeouts are only
    // its backstop (were they shorter, a probe could never be given longer than they allow).
    probe: () => probe(options.url, BREAKER_TIMING.maxProbeTimeoutMs),
    onChange: options.onBreakerChange,
  });
  const pool = new GuardedPool(
    {
      ...connection,
      max: options.max,
      connectionTimeoutMillis: POSTGRES_TIMEOUTS.connectMs,
      idleTimeoutMillis: 30_000,
      Client: guardedClient(breaker),
    },
    breaker,
  );
  // An idle client's dropped connection: the pool discards it and connects anew when needed.
  pool.on('error', () => breaker.suspect());
  return { pool, breaker };
}

/** A fresh connection and `SELECT 1`, closed again; rejects if either fails or takes too long. */
async function probe(url: string, timeoutMs: number): Promise<void> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (error) {
    resetConnection(client);
    throw error;
  }
  await client.end().catch(() => {});
}

/** Resets a client's socket (RST: nothing it sent into a black hole is retransmitted later). */
function resetConnection(client: pg.Client): void {
  const stream = (
    client as unknown as { connection?: { stream?: Partial<import('node:net').Socket> } }
  ).connection?.stream;
  if (stream?.resetAndDestroy && !stream.destroyed) stream.resetAndDestroy();
  else stream?.destroy?.();
}

/** An error the server itself sent (a constraint, a cancelled statement): the database is alive. */
function answeredByServer(error: unknown): boolean {
  return error instanceof pg.DatabaseError && !isDatabaseUnavailable(error);
}

type QueryCallback = (error: Error | null, result?: unknown) => void;

function guardedClient(breaker: DatabaseBreaker): typeof pg.Client {
  return class GuardedClient extends pg.Client {
    poolRelease: ((error?: Error | boolean) => void) | undefined;
    readonly releaseLoan = (error?: Error | boolean) => {
      const release = this.poolRelease;
      if (!release) return;
      this.poolRelease = undefined;
      release(error);
    };

    constructor(config?: string | pg.ClientConfig) {
      super(config);
      // For the client's whole life, checked out or idle: a dropped connection never goes unheard.
      this.on('error', () => breaker.suspect());
      // Lent when its connection ends: given back, discarded (see lend).
      this.on('end', () => this.releaseLoan(new Error('the connection ended while lent')));
    }

    override query(...args: unknown[]): never {
      const operation = breaker.watch(() => resetConnection(this));
      const settle = (error: unknown) => {
        if (!error || answeredByServer(error)) operation.answered();
        else if (isDatabaseUnavailable(error)) operation.failed();
        else operation.done();
      };
      const last = args.length - 1;
      const callback = args[last];
      if (typeof callback === 'function') {
        args[last] = (error: Error | null, result: unknown) => {
          settle(error);
          (callback as QueryCallback)(error, result);
        };
      }
      const query = super.query as (...a: unknown[]) => unknown;
      const result = query.apply(this, args);
      if (result && typeof (result as Promise<unknown>).then === 'function') {
        (result as Promise<unknown>).then(
          () => settle(null),
          (error: unknown) => settle(error),
        );
      } else if (typeof callback !== 'function') {
        // A submittable (cursor, stream) reports on its own events; it is not watched.
        operation.done();
      }
      return result as never;
    }
  } as unknown as typeof pg.Client;
}

/**
 * A client the pool lends is given back to it the moment its connection ends (reset, terminated,
 * timed out), and released once however many times its holder releases it. A holder need not
 * release a client whose connection failed under it: drizzle's `transaction` sends BEGIN before
 * the `try` whose `finally` releases, so a connection reset as a transaction began was never
 * given back, and twenty such resets left the pool with no connection to lend, the service
 * answering 503 until restarted. Released with an error, the pool discards the client and its
 * slot is free for a new connection.
 *
 * Every statement borrows a client, so lending costs two assignments: the client's one 'end'
 * listener and its one release function are made with it.
 */
interface LendableClient extends pg.PoolClient {
  /** The pool's release of the current loan; undefined while the client is not lent. */
  poolRelease: ((error?: Error | boolean) => void) | undefined;
  releaseLoan: (error?: Error | boolean) => void;
}

function lend(client: pg.PoolClient): pg.PoolClient {
  const lendable = client as LendableClient;
  lendable.poolRelease = client.release;
  client.release = lendable.releaseLoan;
  return client;
}

type ConnectCallback = (
  error: Error | undefined,
  client: pg.PoolClient | undefined,
  done: (release?: Error | boolean) => void,
) => void;

/**
 * The pool with the breaker at its door: while it is open, connecting fails at once; a connect
 * still waiting when it opens (for a new connection into a black hole, or behind clients stuck in
 * one) is failed at that moment rather than at its own timeout.
 */
class GuardedPool extends pg.Pool {
  readonly #breaker: DatabaseBreaker;

  constructor(config: pg.PoolConfig & { Client: typeof pg.Client }, breaker: DatabaseBreaker) {
    super(config);
    this.#breaker = breaker;
  }

  /** Whether the breaker refuses connections now (the operator's metrics). */
  get breakerOpen(): boolean {
    return this.#breaker.isOpen;
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: ConnectCallback): void;
  override connect(callback?: ConnectCallback): Promise<pg.PoolClient> | void {
    const acquired = this.#acquire();
    if (!callback) return acquired;
    acquired.then(
      (client) => callback(undefined, client, client.release),
      (error: Error) => callback(error, undefined, () => {}),
    );
  }

  #acquire(): Promise<pg.PoolClient> {
    if (this.#breaker.isOpen) {
      return Promise.reject(new DatabaseUnavailableError('the database is unreachable'));
    }
    return new Promise((resolve, reject) => {
      let settled = false;
      const operation = this.#breaker.watch(() => {
        if (settled) return;
        settled = true;
        reject(new DatabaseUnavailableError('the database is unreachable'));
      });
      super.connect().then(
        (client) => {
          operation.done();
          // Given up on already: the client itself is fine, back to the pool with it.
          if (settled) return client.release();
          settled = true;
          resolve(lend(client));
        },
        (error: unknown) => {
          const failure = refusedAtConnect(error)
            ? new DatabaseUnavailableError('the database accepts no connections now', {
                cause: error,
              })
            : error;
          if (isDatabaseUnavailable(failure)) operation.failed();
          else operation.done();
          if (settled) return;
          settled = true;
          reject(failure as Error);
        },
      );
    });
  }
}
