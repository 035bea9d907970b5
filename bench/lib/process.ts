/**
 * Process helpers for benchmarks: a free port, a child service process, CPU accounting from /proc.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { rowsOf, type Database } from '../../src/db/client';

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts a child; resolves when `ready` sees its line on stdout (at once without `ready`). With
 * `cpu`, the child (its threads and their children included) runs on that core only (taskset).
 * A TypeScript entry runs through tsx; a JavaScript one (the built service: {@link builtService})
 * on plain node.
 */
export async function start(
  args: string[],
  env: Record<string, string>,
  ready?: (line: string) => boolean,
  options: { cpu?: number } = {},
): Promise<ChildProcess> {
  const nodeArgs = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const loader = /\.[cm]?js$/.test(args[0] ?? '') ? [] : ['--import', 'tsx'];
  const command = [process.execPath, ...nodeArgs, ...loader, ...args];
  // taskset execs the command, so the child's pid is node's own.
  if (options.cpu !== undefined) command.unshift('taskset', '-c', String(options.cpu));
  const child = spawn(command[0]!, command.slice(1), {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child.stdout!.resume();
  if (!ready) return child;
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}`)));
    readline
      .createInterface({ input: child.stdout! })
      .on('line', (line) => ready(line) && resolve());
  });
  return child;
}

/** Moves this process, every thread of it, to core `cpu` (the load generator's core). */
let built: string | undefined;

/**
 * The service as it is deployed: `npm run build` (once per bench process), then dist/main.js on
 * plain node. Run from the sources, tsx's transform costs every request a little (esbuild's
 * keepNames wraps each function it creates), which production does not pay.
 */
export function builtService(): string {
  if (!built) {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    execFileSync(process.execPath, [path.join(root, 'scripts/build.mjs')], { stdio: 'inherit' });
    built = path.join(root, 'dist/main.js');
  }
  return built;
}

export function pinSelf(cpu: number): void {
  execFileSync('taskset', ['-a', '-cp', String(cpu), String(process.pid)], { stdio: 'ignore' });
}

/**
 * With BENCH_PIN_POSTGRES=1, moves the local PostgreSQL (its postmaster and every backend; new
 * backends inherit the postmaster's mask) to core `cpu`, the load generator's, so that it does not
 * share the service's core: on a two-core machine an unpinned PostgreSQL runs beside the service
 * about a third of the time, and the service then measures how it shares a core, not what it does
 * on one. Needs the right to change the postgres processes' affinity (root). Returns how to undo it
 * (both cores again); a no-op without the variable.
 */
export function pinPostgresIfAsked(cpu: number): () => void {
  if (process.env.BENCH_PIN_POSTGRES !== '1') return () => {};
  const pids = () =>
    execFileSync('pgrep', ['-u', 'postgres'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  const pin = (cores: string) => {
    for (const pid of pids()) {
      try {
        execFileSync('taskset', ['-a', '-cp', cores, pid], { stdio: 'ignore' });
      } catch {
        // the backend ended
      }
    }
  };
  pin(String(cpu));
  console.log(`PostgreSQL pinned to core ${cpu} (BENCH_PIN_POSTGRES=1)`);
  return () => pin('0,1');
}

/** CPU seconds used so far by the processes `match` selects (Linux /proc; 0 elsewhere). */
export function cpuSeconds(match: (pid: number, comm: string) => boolean): number {
  let ticks = 0;
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return 0;
  }
  for (const entry of entries) {
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (!match(Number(entry), comm)) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
    } catch {
      // the process ended
    }
  }
  return ticks / 100;
}

/**
 * CPU seconds used so far by each PostgreSQL backend serving the database `db` is connected to (a
 * pool's connections, a sequencer's among them), by pid: one that connects later counts from 0.
 */
export async function backendCpu(db: Database): Promise<Map<number, number>> {
  const pids = rowsOf<{ pid: number }>(
    await db.execute(sql`SELECT pid FROM pg_stat_activity WHERE datname = current_database()`),
  ).map((r) => Number(r.pid));
  return new Map(pids.map((pid) => [pid, cpuSeconds((p) => p === pid)]));
}

/** PostgreSQL CPU seconds between two {@link backendCpu} readings. */
export function backendCpuSince(
  before: ReadonlyMap<number, number>,
  after: ReadonlyMap<number, number>,
): number {
  let seconds = 0;
  for (const [pid, total] of after) seconds += total - (before.get(pid) ?? 0);
  return seconds;
}
