import fs from 'node:fs';
import os from 'node:os';
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
 *
 * The lock is a file naming its owner: pid, host and the process's start time (Linux), written
 * whole and then linked into place, so it exists only complete. An owner on this host that still
 * runs (the same pid, started at the same time) holds it; one that is gone (a killed service, a
 * recycled pid, this process's own pid from before a container restart) is taken over; one on
 * another host (two containers on one volume) cannot be checked from here and holds it. Released
 * at close and at exit, and only while it is still this process's.
 */
export function lockDataDir(dataDir: string): () => void {
  const file = path.join(dataDir, DATA_DIR_LOCK_FILE);
  const mine = ownerLine(process.pid);
  for (let attempt = 0; attempt < 5; attempt++) {
    if (createWhole(file, mine)) {
      const release = () => {
        process.removeListener('exit', release);
        if (readText(file) === mine) fs.rmSync(file, { force: true });
      };
      process.on('exit', release);
      return release;
    }
    const held = readText(file);
    if (held === undefined) continue; // gone meanwhile: try again
    const owner = parseOwner(held);
    if (owner && holds(owner)) {
      const who =
        owner.host === os.hostname()
          ? `another process (pid ${owner.pid})`
          : `pid ${owner.pid} on host ${owner.host}, which cannot be checked from here`;
      throw new DataDirInUseError(
        `DATA_DIR ${dataDir} is in use by ${who}: an embedded database serves one process at a ` +
          'time. Stop it, or give this one its own DATA_DIR (or a DATABASE_URL to share a ' +
          `PostgreSQL). If no certmark runs there, delete ${file}.`,
      );
    }
    takeOver(file, held);
  }
  throw new DataDirInUseError(`DATA_DIR ${dataDir}: could not take ${file}; try again`);
}

/** What the lock file says of a process: `<pid> <host> <start time or ->`. */
export function ownerLine(pid: number): string {
  return `${pid} ${os.hostname()} ${procStat(pid)?.started ?? '-'}\n`;
}

interface Owner {
  pid: number;
  host: string;
  started: string | undefined;
}

function parseOwner(text: string): Owner | undefined {
  const [pidText, host, started] = text.trim().split(' ');
  const pid = Number(pidText);
  if (!Number.isSafeInteger(pid) || pid <= 0 || !host) return undefined;
  return { pid, host, started: started && started !== '-' ? started : undefined };
}

/** Whether the owner a lock file names still holds it (see lockDataDir). */
function holds(owner: Owner): boolean {
  if (owner.host !== os.hostname()) return true;
  if (owner.pid === process.pid) return false;
  if (!isAlive(owner.pid)) return false;
  const stat = procStat(owner.pid);
  if (stat?.state === 'Z') return false; // killed, not yet reaped by its parent
  return owner.started === undefined || stat?.started === owner.started;
}

/** Creates `file` holding `text`, complete, unless it exists. */
function createWhole(file: string, text: string): boolean {
  const draft = `${file}.${process.pid}.draft`;
  fs.writeFileSync(draft, text);
  try {
    fs.linkSync(draft, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    fs.rmSync(draft, { force: true });
  }
}

/**
 * Removes a stale lock file: moved aside in one step, and put back if what was moved is not the
 * stale text judged (another process took it over in between and holds it now).
 */
function takeOver(file: string, stale: string): void {
  const aside = `${file}.${process.pid}.stale`;
  try {
    fs.renameSync(file, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    if (readText(aside) !== stale) fs.linkSync(aside, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    fs.rmSync(aside, { force: true });
  }
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
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

/**
 * A process's state and start time in clock ticks since boot (Linux /proc; a recycled pid has
 * another start time), or undefined where /proc does not tell.
 */
function procStat(pid: number): { state: string; started: string } | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  // The fields after the command (which may hold spaces) in parentheses: state is field 3,
  // starttime field 22.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const [state, started] = [fields[0], fields[19]];
  return state && started ? { state, started } : undefined;
}
