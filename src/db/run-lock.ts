import { pgPoolOf, type Database } from './client';

/** A session-level lock saying "a live process is running this job". */
export interface RunLock {
  release(): Promise<void>;
}

/**
 * Takes a job's advisory lock (`key`, namespaced by the job's kind) on a connection of its own,
 * held for the whole job (a certificate import). PostgreSQL releases it when
 * that session ends, so a process killed mid-job frees its jobs at once and a restarted instance
 * can take them over, while a job another live instance is running is left alone. With the
 * embedded database there is one process: nothing to lock against.
 */
export async function tryRunLock(db: Database, key: string): Promise<RunLock | null> {
  const pool = pgPoolOf(db);
  if (!pool) return { release: async () => {} };
  const connection = await pool.connect();
  // A dropped connection must not crash the process: the job then fails or is resumed later.
  connection.on('error', () => {});
  try {
    const { rows } = await connection.query(
      'SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked',
      [key],
    );
    if (rows[0]?.locked !== true) {
      connection.release();
      return null;
    }
  } catch (error) {
    connection.release(true);
    throw error;
  }
  return {
    release: async () => {
      try {
        await connection.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [key]);
        connection.release();
      } catch {
        connection.release(true);
      }
    },
  };
}
