import type { Logger } from 'pino';
import { loggableError } from '../shared/loggable-error';
import type { Database } from './client';
import { rowsOf } from './client';
import { sql } from 'drizzle-orm';

/**
 * How fresh a read must be. `fresh`: what this request or one just before it wrote must be seen
 * (the primary). `bounded`: a public read that may be up to the staleness bound behind (a replica
 * when one is configured and within the bound, else the primary).
 */
export type ReadConsistency = 'fresh' | 'bounded';

/** Where public reads go now, and why. */
export type ReplicaState =
  | 'none' // no DATABASE_READ_URL
  | 'unknown' // not probed yet
  | 'fresh' // within the staleness bound: bounded reads go to it
  | 'behind' // reachable but further behind than the bound
  | 'down' // unreachable, or not a standby
  | 'closed';

export interface ReadRouterOptions {
  primary: Database;
  replica?: Database | undefined;
  /** The staleness bound: a bounded read never sees the primary as of longer ago than this. */
  maxStalenessMs?: number;
  /** How often the replica's position is compared with the primary's. */
  probeEveryMs?: number;
  logger?: Logger | undefined;
  now?: () => number;
}

/** A WAL position ("16/B374D848") as a number that compares. */
export function lsnValue(lsn: string): bigint {
  const [high, low] = lsn.split('/');
  return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
}

/**
 * Sends public reads to a PostgreSQL streaming replica (DATABASE_READ_URL) while it is provably
 * within the staleness bound, and to the primary otherwise.
 *
 * The bound is measured, not assumed: every `probeEveryMs` the router reads the primary's WAL
 * position (`pg_current_wal_lsn()`) at instant t, then the replica's replayed position. If the
 * replica has replayed at least that far, every transaction committed on the primary before t is
 * visible on the replica, so from then on it is "fresh as of t". A bounded read goes to the
 * replica only while now − t ≤ the bound; a replica that stops replaying (or keeps falling
 * behind) stops being fresh within one bound, without any clock shared between the machines. A
 * replica that cannot be reached, or is not a standby at all (promoted, misconfigured), takes no
 * reads; nor does one whose read fails, until the next probe finds it fresh again — that read is
 * answered from the primary.
 */
export class ReadRouter {
  private readonly primary: Database;
  private readonly replica: Database | undefined;
  private readonly maxStalenessMs: number;
  private readonly probeEveryMs: number;
  private readonly now: () => number;
  private freshAsOf = Number.NEGATIVE_INFINITY;
  /** When this instance last answered a change (see {@link wrote}). */
  private wroteAt = Number.NEGATIVE_INFINITY;
  private probeQueued = false;
  private state: ReplicaState;
  private timer: NodeJS.Timeout | undefined;
  private probing: Promise<void> | undefined;

  constructor(private readonly options: ReadRouterOptions) {
    this.primary = options.primary;
    this.replica = options.replica;
    this.maxStalenessMs = options.maxStalenessMs ?? 5_000;
    this.probeEveryMs =
      options.probeEveryMs ?? Math.min(1_000, Math.max(100, this.maxStalenessMs / 4));
    this.now = options.now ?? (() => performance.now());
    this.state = this.replica ? 'unknown' : 'none';
  }

  /** The replica, when one is configured (the operator's metrics watch its pool). */
  get replicaDatabase(): Database | undefined {
    return this.replica;
  }

  /** The database a read of this consistency goes to now. */
  databaseFor(consistency: ReadConsistency): Database {
    return consistency === 'bounded' && this.replicaUsable() ? this.replica! : this.primary;
  }

  /**
   * Runs a read where its consistency allows. A bounded read that fails on the replica (down,
   * cancelled by recovery, anything) is run again on the primary, and the replica takes no more
   * reads until a probe finds it fresh.
   */
  async read<T>(consistency: ReadConsistency, query: (db: Database) => Promise<T>): Promise<T> {
    const db = this.databaseFor(consistency);
    if (db === this.primary) return query(db);
    try {
      return await query(db);
    } catch (error) {
      this.markDown(error, 'a read failed on the replica');
      return query(this.primary);
    }
  }

  /**
   * This instance has just answered a change (a status change, an issuance, a key's change): the
   * reads right after it go to the primary until a probe begun after it finds the replica caught
   * up, so that whoever made the change, or was told of it, does not read the state before it from
   * this instance. Probes at once (after one in flight).
   */
  wrote(): void {
    if (!this.replica) return;
    this.wroteAt = this.now();
    // One probe queued after the one in flight serves every change made meanwhile: under steady
    // changes, probes run back to back, never more.
    if (this.probeQueued) return;
    this.probeQueued = true;
    void (this.probing ?? Promise.resolve()).then(() => {
      this.probeQueued = false;
      return this.probe();
    });
  }

  /**
   * Where bounded reads go now, and how far behind the replica is known to be at most ('fresh'
   * only while it takes them: right after a change this instance answered, it is 'behind' until a
   * probe finds it caught up).
   */
  status(): { replica: ReplicaState; stalenessMs: number | null; maxStalenessMs: number } {
    const usable = this.replicaUsable();
    return {
      replica: this.state === 'fresh' && !usable ? 'behind' : this.state,
      stalenessMs: Number.isFinite(this.freshAsOf) ? Math.round(this.now() - this.freshAsOf) : null,
      maxStalenessMs: this.maxStalenessMs,
    };
  }

  /** Probes now and then every `probeEveryMs`, until `close`. */
  start(): Promise<void> {
    if (!this.replica) return Promise.resolve();
    this.timer ??= setInterval(() => void this.probe(), this.probeEveryMs);
    this.timer.unref();
    return this.probe();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.probing;
    if (this.replica) this.state = 'closed';
  }

  /** Compares the replica's replayed WAL position with the primary's (see the class comment). */
  probe(): Promise<void> {
    if (!this.replica) return Promise.resolve();
    this.probing ??= (async () => {
      try {
        const at = this.now();
        const [primary] = rowsOf<{ lsn: string }>(
          await this.primary.execute(sql`SELECT pg_current_wal_lsn()::text AS lsn`),
        );
        const [replica] = rowsOf<{ standby: boolean; replayed: string | null }>(
          await this.replica!.execute(
            sql`SELECT pg_is_in_recovery() AS standby, pg_last_wal_replay_lsn()::text AS replayed`,
          ),
        );
        if (!replica?.standby || !replica.replayed) {
          this.markDown(undefined, 'DATABASE_READ_URL is not a standby');
          return;
        }
        if (lsnValue(replica.replayed) >= lsnValue(primary!.lsn)) {
          this.freshAsOf = at;
          this.changeState('fresh');
        } else if (this.now() - this.freshAsOf > this.maxStalenessMs) {
          this.changeState('behind');
        }
      } catch (error) {
        this.markDown(error, 'the replica cannot be reached');
      } finally {
        this.probing = undefined;
      }
    })();
    return this.probing;
  }

  private replicaUsable(): boolean {
    return (
      this.replica !== undefined &&
      this.state === 'fresh' &&
      this.freshAsOf >= this.wroteAt &&
      this.now() - this.freshAsOf <= this.maxStalenessMs
    );
  }

  private markDown(error: unknown, why: string): void {
    this.freshAsOf = Number.NEGATIVE_INFINITY;
    if (this.state !== 'down') {
      this.options.logger?.warn(
        error === undefined ? {} : { err: loggableError(error) },
        `${why}: public reads go to the primary`,
      );
    }
    this.state = 'down';
  }

  private changeState(next: ReplicaState): void {
    if (next === this.state) return;
    if (next === 'fresh')
      this.options.logger?.info('the replica is within the staleness bound: public reads go to it');
    else if (next === 'behind')
      this.options.logger?.warn(
        { maxStalenessMs: this.maxStalenessMs },
        'the replica is behind the staleness bound: public reads go to the primary',
      );
    this.state = next;
  }
}
