import fs from 'node:fs';
import type { Pool as PgPool } from 'pg';
import type { ExtractTablesWithRelations, SQLWrapper } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core';
import { sql } from 'drizzle-orm';
import { runtimeFile } from '../shared/runtime-files';
import { lockDataDir } from './data-dir-lock';

/**
 * The one database interface the features use: node-postgres and PGlite both implement it. It is
 * built without the schema: the features write their queries with the query builder and `sql`, never
 * drizzle's relational API, and a schema makes every transaction build a relational query builder
 * for each table (a twentieth of an audited write's CPU).
 */
export type Database = PgDatabase<PgQueryResultHKT>;
type NoSchema = Record<string, never>;
export type Transaction = PgTransaction<
  PgQueryResultHKT,
  NoSchema,
  ExtractTablesWithRelations<NoSchema>
>;
/** Either the database or a transaction on it: query functions accept both. */
export type Queryable = Database | Transaction;

export interface DatabaseHandle {
  readonly db: Database;
  readonly kind: 'postgres' | 'pglite';
  /** Throws when the database cannot answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** drizzle-kit's migrations: in dist/ when compiled, at the repository root from the sources. */
function migrationsFolder(): string {
  const folder = runtimeFile('migrations');
  if (!folder) throw new Error('the migrations folder is missing (run npm run build again)');
  return folder;
}

/** Arbitrary but fixed: serialises migrations when several instances start at once. */
const MIGRATION_LOCK_ID = 0x63_65_72_74; // "cert"

export interface OpenDatabaseOptions {
  databaseUrl: string | undefined;
  dataDir: string;
  /** Pool size for PostgreSQL. */
  maxConnections?: number;
  /** Told when PostgreSQL becomes unreachable (requests then fail fast with 503) and when it is back. */
  onAvailabilityChange?: (state: 'open' | 'closed', why: string) => void;
}

/**
 * Opens PostgreSQL when a URL is given, else an embedded PGlite in `dataDir`, and brings the schema
 * up to date. PostgreSQL sits behind a circuit breaker with bounded timeouts (src/db/postgres-pool.ts)
 * so an unreachable database yields a quick 503, and recovery needs no restart.
 */
export async function openDatabase(options: OpenDatabaseOptions): Promise<DatabaseHandle> {
  if (options.databaseUrl) return openPostgres(options);
  return openPglite(options.dataDir);
}

async function openPostgres(options: OpenDatabaseOptions): Promise<DatabaseHandle> {
  const { default: pg } = await import('pg');
  const { drizzle } = await import('drizzle-orm/node-postgres');
  const { migrate } = await import('drizzle-orm/node-postgres/migrator');
  const { createPostgresPool } = await import('./postgres-pool');
  // DATE columns are calendar days: keep them as 'YYYY-MM-DD' strings, never shift them by timezone.
  pg.types.setTypeParser(1082, (value: string) => value);
  const { pool, breaker } = createPostgresPool({
    url: options.databaseUrl!,
    max: options.maxConnections ?? 20,
    onBreakerChange: options.onAvailabilityChange,
  });
  const db = drizzle(pool) as unknown as Database;

  try {
    const lockClient = await pool.connect();
    try {
      await lockClient.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
      await migrate(drizzle(lockClient), { migrationsFolder: migrationsFolder() });
    } finally {
      await lockClient.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]).catch(() => {});
      lockClient.release();
    }
  } catch (error) {
    // Nothing of this attempt may outlive it: whoever opens again gets a pool of its own.
    breaker.stop();
    await pool.end().catch(() => {});
    throw error;
  }
  return {
    db,
    kind: 'postgres',
    ping: async () => {
      await pool.query('SELECT 1');
    },
    close: async () => {
      breaker.stop();
      await pool.end();
    },
  };
}

async function openPglite(dataDir: string): Promise<DatabaseHandle> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  const { migrate } = await import('drizzle-orm/pglite/migrator');
  const inMemory = dataDir === 'memory://';
  // Only this user reads the embedded database (API key hashes, issuers' wrapped keys), as ./keys.
  if (!inMemory) {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    try {
      fs.chmodSync(dataDir, 0o700);
    } catch {
      // A folder this user may not change (a mount): it keeps the mode its owner gave it.
    }
  }
  const release = inMemory ? () => {} : lockDataDir(dataDir);
  try {
    const client = await PGlite.create(inMemory ? undefined : dataDir, {
      parsers: { 1082: (value: string) => value },
    });
    const db = drizzle(client) as unknown as Database;
    await migrate(drizzle(client), { migrationsFolder: migrationsFolder() });
    return {
      db,
      kind: 'pglite',
      ping: async () => {
        await db.execute(sql`SELECT 1`);
      },
      close: async () => {
        try {
          await client.close();
        } finally {
          release();
        }
      },
    };
  } catch (error) {
    release();
    throw error;
  }
}

/**
 * Opens a PostgreSQL streaming replica for reads (DATABASE_READ_URL): the same guarded pool as the
 * primary's, and no migration (a standby is read-only; it replays the primary's schema).
 */
export async function openReadReplica(options: {
  databaseUrl: string;
  maxConnections?: number;
}): Promise<Omit<DatabaseHandle, 'kind'> & { kind: 'postgres' }> {
  const { drizzle } = await import('drizzle-orm/node-postgres');
  const { createPostgresPool } = await import('./postgres-pool');
  const { pool, breaker } = createPostgresPool({
    url: options.databaseUrl,
    max: options.maxConnections ?? 10,
  });
  const db = drizzle(pool) as unknown as Database;
  return {
    db,
    kind: 'postgres',
    ping: async () => {
      await pool.query('SELECT 1');
    },
    close: async () => {
      breaker.stop();
      await pool.end();
    },
  };
}

/** Rows of a raw `db.execute` result, whichever driver produced it. */
export function rowsOf<T>(result: unknown): T[] {
  return (result as { rows: T[] }).rows;
}

/** Rows an INSERT/UPDATE touched, whichever driver ran it (pg: rowCount, PGlite: affectedRows). */
export function affectedRows(result: unknown): number {
  const r = result as { rowCount?: number | null; affectedRows?: number };
  return Number(r.rowCount ?? r.affectedRows ?? 0);
}

interface ClientLike {
  query(
    config: { name?: string; text: string; values: unknown[] } | string,
    values?: unknown[],
  ): Promise<{ rows: unknown[] }>;
}

/**
 * The `pg` pool behind a database handle (PostgreSQL), or undefined for the embedded PGlite (one
 * in-process connection, no pool): what run locks, prepared statements and pool metrics need.
 */
export function pgPoolOf(db: Database): PgPool | undefined {
  const client = (db as unknown as { $client?: { totalCount?: unknown } }).$client;
  return typeof client?.totalCount === 'number' ? (client as unknown as PgPool) : undefined;
}

/**
 * What a database or a transaction runs its statements on: drizzle keeps it as `session.client` —
 * the pool for the database, the connection checked out for a transaction (node-postgres); the
 * PGlite instance or its transaction (PGlite). A statement sent there is part of the transaction.
 */
function driverClientOf(db: Queryable): { client: ClientLike; pg: boolean } {
  const client = (db as unknown as { session: { client: Record<string, unknown> } }).session.client;
  // A pg Pool counts its clients; a pg Client (a transaction's) has its connection parameters.
  const pg =
    typeof client.totalCount === 'number' || typeof client.connectionParameters === 'object';
  return { client: client as unknown as ClientLike, pg };
}

/**
 * Runs one hand-written statement on the driver's own client — the transaction's connection when
 * `db` is a transaction: node-postgres prepares it once per connection under `name` (no parse or
 * plan per call, and no query builder's work per value); PGlite runs it as it is. With no name
 * it is planned at every call, for the size its tables have then: a statement that reads a table
 * which starts empty and grows fast (a cached plan made while it was small keeps scanning it
 * whole until the next ANALYZE).
 */
export async function clientQuery<T>(
  db: Queryable,
  name: string | undefined,
  text: string,
  values: unknown[],
): Promise<T[]> {
  const { client, pg } = driverClientOf(db);
  const result =
    pg && name !== undefined
      ? await client.query({ name, text, values })
      : await client.query(text, values);
  return result.rows as T[];
}

/**
 * SQL for the day in China Standard Time (YYYY-MM-DD, UTC+8 with no daylight saving, as
 * ../shared/dates.ts counts days) of the instants in `column` that lie in [since, until): the
 * day to group by, and the range that keeps a partitioned table to the partitions it covers.
 */
export function chinaDayWithin(column: SQLWrapper, range: { since: Date; until: Date }) {
  return {
    day: sql`to_char((${column} AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM-DD')`,
    within: sql`${column} >= ${range.since.toISOString()}::timestamptz AND ${column} < ${range.until.toISOString()}::timestamptz`,
  };
}
