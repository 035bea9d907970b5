import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';

/**
 * The service as an operator runs it: its own process (`tsx src/main.ts`), its own logs, killed or
 * crashed for real. Tests that must see what `app.request()` cannot (a process that dies, log
 * lines as written, a socket held open) start it with this.
 */
export interface ServiceProcess {
  readonly baseUrl: string;
  readonly child: ChildProcess;
  /** Every stdout and stderr line so far, in order. */
  readonly output: string[];
  /** Set when the process has exited: its code or signal. */
  readonly exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

export interface ServiceProcessOptions {
  databaseUrl: string;
  keysDir: string;
  adminKey: string;
  env?: Record<string, string>;
  /** How long to wait for "certmark listening". */
  startTimeoutMs?: number;
}

export async function startServiceProcess(options: ServiceProcessOptions): Promise<ServiceProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: process.cwd(),
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: options.databaseUrl,
      PORT: '0',
      KEYS_DIR: options.keysDir,
      ADMIN_API_KEY: options.adminKey,
      PUBLIC_BASE_URL: 'https://certmark.test',
      RATE_LIMIT_PER_MINUTE: '0',
      LOG_LEVEL: 'info',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  let exit: ServiceProcess['exit'];
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      resolve();
    }),
  );
  readline.createInterface({ input: child.stderr! }).on('line', (line) => output.push(line));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`service did not start:\n${output.join('\n')}`)),
      options.startTimeoutMs ?? 30_000,
    );
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`service exited (${exit?.code ?? exit?.signal}):\n${output.join('\n')}`));
    });
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      output.push(line);
      try {
        const entry = JSON.parse(line) as { msg?: string; port?: number };
        if (entry.msg === 'certmark listening' && entry.port) {
          clearTimeout(timer);
          resolve(entry.port);
        }
      } catch {
        // not a log line
      }
    });
  });
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    child,
    output,
    get exit() {
      return exit;
    },
    async stop(graceMs = 5_000) {
      if (exit) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
