import fs from 'node:fs';
import path from 'node:path';

/** The embedded database's folder is in use by another live process. */
export class DataDirInUseError extends Error {
  override readonly name = 'DataDirInUseError';
}

/** The file in DATA_DIR that names the process using it (as PostgreSQL's own postmaster.pid). */
export const DATA_DIR_LOCK_FILE = 'certmark.pid';

/**
 * Takes the embedded database's folder for this process alone, or refuses. PGlite holds its
 * database in the process and writes it back to the folder: a second process on the same folder
 * starts from what is on disk, and whichever stops last overwrites the writes the other confirmed.
 * The lock is a file holding the owner's pid, created exclusively; one whose process is gone (a
 * killed service) is taken over. Returns the release, which leaves a successor's file alone.
 */
export function lockDataDir(dataDir: string): () => void {
  const file = path.join(dataDir, DATA_DIR_LOCK_FILE);
  const mine = `${process.pid}\n`;
  for (let attempt = 0; ; attempt++) {
    try {
      fs.writeFileSync(file, mine, { flag: 'wx' });
      return () => {
        if (readOwner(file) === process.pid) fs.rmSync(file, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw error;
    }
    const owner = readOwner(file);
    if (owner !== undefined && owner !== process.pid && isAlive(owner)) {
      throw new DataDirInUseError(
        `DATA_DIR ${dataDir} is in use by another process (pid ${owner}): an embedded database ` +
          'serves one process at a time. Stop it, or give this one its own DATA_DIR (or a ' +
          `DATABASE_URL to share a PostgreSQL). If no certmark runs there, delete ${file}.`,
      );
    }
    // Stale (its process is gone) or unreadable: moved aside in one step, then created anew
    // exclusively (the next turn), so two processes taking it over at once meet at the creation.
    const aside = `${file}.stale-${process.pid}`;
    try {
      fs.renameSync(file, aside);
      fs.rmSync(aside, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

function readOwner(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a process with this pid exists (EPERM: it does, under another user). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
