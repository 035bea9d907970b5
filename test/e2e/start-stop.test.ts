import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config';
import { ownerLine } from '../../src/db/data-dir-lock';
import { baseDatabaseUrl } from '../db-names';
import { createTestDatabase, freePort } from '../helpers';
import { buildWorld, httpCaller, serviceSecrets, type World } from '../faults/harness';
import { startServiceProcess, type ServiceProcess } from '../service-process';
import { exchange } from '../raw-http';

/**
 * Runs `src/main.ts` to its end: its exit code and every line it wrote. One still running after
 * 20 s is killed (code null), so a test that expected it to stop fails without leaving it behind.
 */
function runToExit(env: Record<string, string>, preload: string[] = []) {
  const imports = preload.flatMap((module) => ['--import', module]);
  const child = spawn(process.execPath, ['--import', 'tsx', ...imports, 'src/main.ts'], {
    cwd: process.cwd(),
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += String(d)));
  child.stderr.on('data', (d) => (stderr += String(d)));
  const overdue = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(overdue);
      resolve({ code, stdout, stderr });
    }),
  );
}

/**
 * The service on an embedded database in `folder`, as an operator starts it (no ADMIN_API_KEY, a
 * 5 s shutdown bound), its stdout a pipe the test reads or closes.
 */
function embeddedService(folder: string, port: number) {
  return spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: process.cwd(),
    env: {
      PATH: process.env.PATH,
      PORT: String(port),
      DATA_DIR: path.join(folder, 'data'),
      KEYS_DIR: path.join(folder, 'keys'),
      RATE_LIMIT_PER_MINUTE: '0',
      SHUTDOWN_TIMEOUT_SECONDS: '5',
    },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
}

/** `count` registry searches, each a log line; every one answered 200. */
async function lookUps(port: number, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const res = await fetch(`http://127.0.0.1:${port}/v1/registry/certificates?holder=h${i}`);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  }
}

/** SIGTERM, then the exit code and how long it took (null and Infinity past 15 s). */
function stopped(child: ChildProcess): Promise<{ code: number | null; ms: number }> {
  const began = performance.now();
  child.kill('SIGTERM');
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve({ code, ms: performance.now() - began }));
    setTimeout(() => resolve({ code: null, ms: Infinity }), 15_000).unref();
  });
}

function exited(service: ServiceProcess): Promise<NonNullable<ServiceProcess['exit']>> {
  return new Promise((resolve) => {
    if (service.exit) return resolve(service.exit);
    service.child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

describe('start: configuration, keys and port before anything is written', () => {
  let folder: string;
  beforeAll(() => {
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'certmark-start-'));
  });
  afterAll(() => fs.rmSync(folder, { recursive: true, force: true }));

  it('a busy port is one line on stderr and exit 1, with nothing seeded or generated', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    const dataDir = path.join(folder, 'data');
    const keysDir = path.join(folder, 'keys');
    try {
      // The demo on the embedded database, first start: it would make keys, a database, an admin
      // key and a demo registry.
      const run = await runToExit({ PORT: String(port), DATA_DIR: dataDir, KEYS_DIR: keysDir });
      expect(run.code).toBe(1);
      expect(run.stderr.trimEnd().split('\n')).toEqual([
        `certmark failed to start: port ${port} is already in use (EADDRINUSE); set PORT to a free one`,
      ]);
      expect(run.stdout).toBe('');
      expect(fs.existsSync(dataDir)).toBe(false);
      expect(fs.existsSync(keysDir)).toBe(false);
    } finally {
      blocker.close();
    }
  });

  it('an invalid setting is one line and exit 1, before the port is even taken', async () => {
    const keysDir = path.join(folder, 'keys-2');
    const run = await runToExit({ PORT: 'eighty', KEYS_DIR: keysDir });
    expect(run.code).toBe(1);
    expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/^certmark failed to start: invalid configuration: PORT/);
    expect(fs.existsSync(keysDir)).toBe(false);
  });

  it('names a long variable whole, and refuses a public base URL no link could follow, before any database', async () => {
    for (const [env, expected] of [
      [{ WEBHOOK_RETRY_DELAY_SECONDS: '0' }, 'WEBHOOK_RETRY_DELAY_SECONDS: '],
      [{ PUBLIC_BASE_URL: 'javascript:x' }, 'PUBLIC_BASE_URL: must be an http(s) URL'],
    ] as const) {
      const keysDir = path.join(folder, `keys-${Object.keys(env)[0]}`);
      const run = await runToExit({ PORT: '0', KEYS_DIR: keysDir, ...env });
      expect(run.code).toBe(1);
      expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(run.stderr).toContain(`certmark failed to start: invalid configuration: ${expected}`);
      expect(run.stdout).not.toContain('migrations applied');
      expect(fs.existsSync(keysDir)).toBe(false);
    }
  });

  it('a LOG_ORIGIN no checkpoint could be signed under is one line and exit 1', async () => {
    const keysDir = path.join(folder, 'keys-3');
    // A control character: a key name the signed note refuses (C2SP signed-note "Format").
    const run = await runToExit({ PORT: '0', LOG_ORIGIN: 'log.example/\u0007', KEYS_DIR: keysDir });
    expect(run.code).toBe(1);
    expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/^certmark failed to start: invalid configuration: LOG_ORIGIN: /);
    expect(run.stderr).not.toContain('\u0007');
    expect(fs.existsSync(keysDir)).toBe(false);
  });

  it('an embedded database another live process uses is one line and exit 1, its folder untouched', async () => {
    // Two processes on one PGlite folder each confirm writes the other's last write-back erases.
    const dataDir = path.join(folder, 'data-in-use');
    fs.mkdirSync(dataDir);
    const lock = path.join(dataDir, 'certmark.pid');
    fs.writeFileSync(lock, ownerLine(process.pid)); // this test runner: alive
    const run = await runToExit({
      PORT: '0',
      DATA_DIR: dataDir,
      KEYS_DIR: path.join(folder, 'keys-4'),
    });
    expect(run.code).toBe(1);
    expect(run.stderr.trimEnd().split('\n')).toEqual([
      `certmark failed to start: DATA_DIR ${dataDir} is in use by another process (pid ${process.pid}): ` +
        'an embedded database serves one process at a time. Stop it, or give this one its own ' +
        `DATA_DIR (or a DATABASE_URL to share a PostgreSQL). If no certmark runs there, delete ${lock}.`,
    ]);
    expect(fs.readdirSync(dataDir)).toEqual(['certmark.pid']);
    expect(fs.readFileSync(lock, 'utf8')).toBe(ownerLine(process.pid));
  });

  it('says which key file is wrong, and what a database refusal means', async () => {
    const keysDir = path.join(folder, 'keys-5');
    fs.mkdirSync(keysDir);
    fs.writeFileSync(path.join(keysDir, 'kek'), 'not base64url of 32 bytes');
    const badKey = await runToExit({ PORT: '0', KEYS_DIR: keysDir, DATA_DIR: 'memory://' });
    expect(badKey.code).toBe(1);
    expect(badKey.stderr.trimEnd().split('\n')).toEqual([
      `certmark failed to start: ${path.join(keysDir, 'kek')} must hold 32 bytes, base64url`,
    ]);

    const noSuchDatabase = await runToExit({
      PORT: '0',
      KEYS_DIR: path.join(folder, 'keys-6'),
      DATABASE_URL: baseDatabaseUrl('certmark_no_such_database'),
    });
    expect(noSuchDatabase.code).toBe(1);
    expect(noSuchDatabase.stderr.trimEnd().split('\n')).toEqual([
      'certmark failed to start: the database DATABASE_URL names does not exist (SQLSTATE 3D000)',
    ]);

    // A database that accepts no connections (template0 never does) is no outage to wait out.
    const noConnections = await runToExit({
      PORT: '0',
      KEYS_DIR: path.join(folder, 'keys-7'),
      DATABASE_URL: baseDatabaseUrl('template0'),
    });
    expect(noConnections.code).toBe(1);
    expect(noConnections.stderr.trimEnd().split('\n')).toEqual([
      expect.stringMatching(
        /^certmark failed to start: the database DATABASE_URL names accepts no connections \(.*\) \(SQLSTATE 55000\)$/,
      ),
    ]);
  });
});

describe('a defect no handler caught', () => {
  it('ends the process with exit 1 and one fatal log line, without a stack', async () => {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'certmark-crash-'));
    try {
      // A rejection nothing awaits, once the service has taken over the process's handlers.
      const defect =
        'data:text/javascript,const t = setInterval(() => { if (process.listenerCount("unhandledRejection")) ' +
        '{ clearInterval(t); Promise.reject(new TypeError("x is not a function")); } }, 20)';
      const run = await runToExit(
        { PORT: '0', DATA_DIR: path.join(folder, 'data'), KEYS_DIR: path.join(folder, 'keys') },
        [defect],
      );
      expect(run.code).toBe(1);
      const fatal = run.stdout
        .split('\n')
        .filter((line) => line.includes('"level":60'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(fatal, run.stdout + run.stderr).toEqual([
        expect.objectContaining({
          msg: 'unhandled rejection: exiting',
          err: { name: 'TypeError', message: 'x is not a function' },
        }),
      ]);
      expect(run.stdout + run.stderr).not.toMatch(/\n\s+at /);
    } finally {
      fs.rmSync(folder, { recursive: true, force: true });
    }
  });
});

describe('stop: with a log reader that stopped reading', () => {
  it('answers meanwhile, and still exits within its bound', async () => {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'certmark-stalled-log-'));
    const child = embeddedService(folder, 0);
    try {
      // The port from the "listening" line; then stdout is never read again (a full pipe).
      const port = await new Promise<number>((resolve) => {
        let seen = '';
        const onData = (data: Buffer) => {
          seen += String(data);
          const listening = /"port":(\d+)[^\n]*"msg":"certmark listening"/.exec(seen);
          if (!listening) return;
          child.stdout.off('data', onData);
          child.stdout.pause();
          resolve(Number(listening[1]));
        };
        child.stdout.on('data', onData);
      });
      // A line each: far more than the 64 KiB a pipe holds.
      await lookUps(port, 800);
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      const exit = await stopped(child);
      // The bound (5 s) and the second given to what the reader never took; it used to hang.
      expect(exit.code).toBe(0);
      expect(exit.ms).toBeLessThan(7_000);
    } finally {
      child.kill('SIGKILL');
      fs.rmSync(folder, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('a log reader that went away (`… | head -1`)', () => {
  it('leaves the service answering, and SIGTERM still ends it', async () => {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'certmark-gone-log-'));
    const port = await freePort();
    // No ADMIN_API_KEY: the bootstrap key is printed to stdout after the reader has gone.
    const child = embeddedService(folder, port);
    try {
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      child.stdout.destroy();
      let ready = 0;
      for (let i = 0; i < 300 && ready !== 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
        ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
          (res) => res.status,
          () => 0,
        );
      }
      expect(ready).toBe(200);
      await lookUps(port, 50);
      expect(child.exitCode).toBeNull();
      const exit = await stopped(child);
      expect(exit.code).toBe(0);
      expect(exit.ms).toBeLessThan(7_000);
    } finally {
      child.kill('SIGKILL');
      fs.rmSync(folder, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('stop: its bound', () => {
  it('is 10 s unless SHUTDOWN_TIMEOUT_SECONDS says otherwise, and never below 5 s', () => {
    expect(loadConfig({}).shutdownBoundMs).toBe(10_000);
    expect(loadConfig({ SHUTDOWN_TIMEOUT_SECONDS: '25' }).shutdownBoundMs).toBe(25_000);
    for (const bad of ['4', '601', 'soon'])
      expect(() => loadConfig({ SHUTDOWN_TIMEOUT_SECONDS: bad })).toThrow(ConfigError);
  });
});

/**
 * A service process on a database of its own, with a world built through its API, for the tests
 * of one describe block; killed (if it has not exited) and dropped after them.
 */
function serviceWithWorld(env: Record<string, string> = {}) {
  const secrets = serviceSecrets();
  const state = {} as {
    database: { url: string; drop(): Promise<void> };
    service: ServiceProcess;
    world: World;
  };
  beforeAll(async () => {
    state.database = await createTestDatabase();
    state.service = await startServiceProcess({
      databaseUrl: state.database.url,
      ...secrets,
      env,
    });
    state.world = await buildWorld(httpCaller(state.service.baseUrl), secrets.adminKey);
  });
  afterAll(async () => {
    if (!state.service.exit) state.service.child.kill('SIGKILL');
    secrets.remove();
    await state.database.drop();
  });
  return state;
}

describe('stop: SIGTERM under load', () => {
  const running = serviceWithWorld();

  it('(before it stops) tells a CONNECT to a route the methods its routes take there', async () => {
    const port = Number(new URL(running.service.baseUrl).port);
    const answer = await exchange(port, 'CONNECT /v1/verify/mark HTTP/1.1\r\nhost: a\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 405 /);
    expect(answer.toLowerCase()).toContain('\r\nallow: post\r\n');
  });

  it('answers what it received, counts and logs every scan it acknowledged, exits 0', async () => {
    const { database, service, world } = running;
    const http = httpCaller(service.baseUrl);
    const acknowledged = new Map<string, number>();
    let answered = 0;
    let signalled = false;
    const worker = async (w: number) => {
      for (let i = 0; ; i++) {
        const mark = world.marks[(w * 7 + i) % world.marks.length]!;
        const outcome = await http.call('POST', '/v1/verify/mark', {
          body: { code: mark.code },
          timeoutMs: 20_000,
        });
        if (outcome.status !== 200) {
          // Before the signal every scan is answered; after it, only refusals to connect.
          if (!signalled) throw new Error(`before SIGTERM: ${outcome.status}`);
          return;
        }
        expect((outcome.body as { verdict: string }).verdict).toBe('authentic');
        acknowledged.set(mark.serial, (acknowledged.get(mark.serial) ?? 0) + 1);
        answered += 1;
      }
    };
    const workers = Array.from({ length: 12 }, (_, w) => worker(w));
    while (answered < 150) await new Promise((resolve) => setTimeout(resolve, 20));
    signalled = true;
    service.child.kill('SIGTERM');
    const [exit] = await Promise.all([exited(service), ...workers]);

    expect(exit).toEqual({ code: 0, signal: null });
    expect(service.output.some((line) => line.includes('"msg":"stopped"'))).toBe(true);

    const db = new pg.Client({ connectionString: database.url });
    await db.connect();
    try {
      const serials = [...acknowledged.keys()];
      const counted = await db.query<{ serial: string; scan_count: number; logged: string }>(
        // A serial is a bigint in the database: its leading zeros come back with lpad.
        `SELECT lpad(m.serial::text, 16, '0') AS serial, m.scan_count,
                (SELECT count(*) FROM mark_scans s WHERE s.serial = m.serial) AS logged
           FROM marks m WHERE lpad(m.serial::text, 16, '0') = ANY($1)`,
        [serials],
      );
      expect(counted.rows).toHaveLength(serials.length);
      for (const row of counted.rows) {
        const answeredScans = acknowledged.get(row.serial)!;
        // A scan counted whose answer was cut off may add one; an acknowledged scan is never lost.
        expect(row.scan_count).toBeGreaterThanOrEqual(answeredScans);
        expect(Number(row.logged)).toBeGreaterThanOrEqual(answeredScans);
      }
    } finally {
      await db.end();
    }
  });
});

describe('stop: SIGTERM while a long answer streams', () => {
  // A shorter bound than the default: streams are cut 3 s before it, the rest of the stop has 3 s.
  const running = serviceWithWorld({ SHUTDOWN_TIMEOUT_SECONDS: '7' });

  it('cuts a label PDF still streaming when the bound nears, and exits 0', async () => {
    const { service, world } = running;
    const caller = httpCaller(service.baseUrl);
    const issued = await caller.call('POST', `/v1/certificates/${world.certificate.id}/marks`, {
      key: world.issuerKey,
      body: { count: 5_000 },
    });
    expect(issued.status).toBe(201);
    const batchId = (issued.body as { batchId: string }).batchId;
    // A reader that takes the first bytes and then nothing: the PDF waits on it.
    const request = http.get(`${service.baseUrl}/v1/mark-batches/${batchId}/labels.pdf`, {
      headers: { authorization: `Bearer ${world.issuerKey}` },
    });
    request.on('error', () => {});
    const response = await new Promise<http.IncomingMessage>((resolve) =>
      request.on('response', (res) => {
        expect(res.statusCode).toBe(200);
        res.once('data', () => {
          res.pause();
          resolve(res);
        });
      }),
    );
    service.child.kill('SIGTERM');
    const exit = await exited(service);
    response.destroy();

    // Within the bound (past it the exit code is 1, and the log says what it waited for), having
    // said what it cut.
    expect(exit, service.output.slice(-8).join('\n')).toEqual({ code: 0, signal: null });
    expect(service.output.some((line) => line.includes('answers still streaming were cut'))).toBe(
      true,
    );
  });
});
