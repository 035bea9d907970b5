import { randomBytes } from 'node:crypto';
import http, { type Server } from 'node:http';
import net from 'node:net';
import { serve } from '@hono/node-server';
import pg from 'pg';
import type { Logger } from 'pino';
import { createApp, createServices, type App, type Services } from '../src/app';
import { fixedClock } from '../src/clock';
import { loadConfig, type Config } from '../src/config';
import { openDatabase, type DatabaseHandle } from '../src/db/client';
import type { KeyMaterial } from '../src/keystore/key-material';
import { adminUrl, baseDatabaseUrl } from './db-names';

export const TEST_NOW = '2026-11-24T10:00:00.000Z';

export interface TestContext {
  app: App;
  services: Services;
  handle: DatabaseHandle;
  databaseUrl: string;
  clock: ReturnType<typeof fixedClock>;
  config: Config;
  keys: KeyMaterial;
  adminKey: string;
  close(): Promise<void>;
}

/** A fresh database (a copy of the migrated template) for one test file. */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const template = process.env.CERTMARK_TEST_TEMPLATE;
  if (!template) throw new Error('test/global-setup.ts did not run');
  const name = `${template}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
  await admin.end();
  return {
    url: baseDatabaseUrl(name),
    drop: async () => {
      const a = new pg.Client({ connectionString: adminUrl() });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await a.end();
    },
  };
}

export function testKeys(): KeyMaterial {
  return { kek: new Uint8Array(randomBytes(32)), platformSeed: new Uint8Array(randomBytes(32)) };
}

/**
 * The whole service on its own database with a fixed clock, as `app.request()` sees it.
 * `env` overrides configuration (rate limiting is off unless a test turns it on); `logger`
 * receives the service's log lines (silent by default).
 */
export async function createTestContext(
  env: Record<string, string> = {},
  options: { logger?: Logger } = {},
): Promise<TestContext> {
  const database = await createTestDatabase();
  const handle = await openDatabase({ databaseUrl: database.url, dataDir: '', maxConnections: 10 });
  const config = loadConfig({
    RATE_LIMIT_PER_MINUTE: '0',
    PUBLIC_BASE_URL: 'https://certmark.test',
    ...env,
  });
  const clock = fixedClock(TEST_NOW);
  const keys = testKeys();
  const deps = { db: handle.db, config, keys, clock, ping: handle.ping, logger: options.logger };
  const services = createServices(deps);
  const app = createApp(deps, services);
  const adminKey = `cm_${randomBytes(32).toString('base64url')}`;
  await services.apiKeys.ensureAdminKey(adminKey);
  return {
    app,
    services,
    handle,
    databaseUrl: database.url,
    clock,
    config,
    keys,
    adminKey,
    close: async () => {
      await handle.close();
      await database.drop();
    },
  };
}

type Json = Record<string, unknown> | unknown[];

/** A small client over `app.request()`: JSON in, status + parsed body out. */
export function client(app: App) {
  const call = async (
    method: string,
    path: string,
    options: { key?: string | undefined; body?: unknown; headers?: Record<string, string> } = {},
  ) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.key) headers.authorization = `Bearer ${options.key}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    }
    const res = await app.request(path, { method, headers, body });
    const text = await res.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON (an image, a page): callers read `text`
    }
    return { status: res.status, headers: res.headers, body: json as any, text };
  };
  return {
    get: (path: string, key?: string, headers?: Record<string, string>) =>
      call('GET', path, { key, headers }),
    post: (path: string, body: unknown, key?: string, headers?: Record<string, string>) =>
      call('POST', path, { key, body, headers }),
    delete: (path: string, key?: string) => call('DELETE', path, { key }),
    call,
  };
}

export type Client = ReturnType<typeof client>;
export type { Json };

/** An app served over real HTTP on an ephemeral localhost port (what `app.request()` skips). */
export interface Listening {
  url: string;
  port: number;
  close(): Promise<void>;
}

export function listen(app: App): Promise<Listening> {
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) =>
      resolve({
        url: `http://127.0.0.1:${info.port}`,
        port: info.port,
        close: () =>
          new Promise((done) => {
            (server as Server).closeAllConnections();
            server.close(() => done());
          }),
      }),
    );
  });
}

/**
 * POSTs `chunks` to `path` on a listening server over real HTTP, written one by one (chunked
 * unless `headers` declare a Content-Length), and reads the JSON answer: what `app.request()`
 * cannot show (a body the parser streams, a declared length).
 */
export function postChunks(
  port: number,
  path: string,
  headers: Record<string, string>,
  chunks: readonly string[],
): Promise<{ status: number; body: { code?: string; verdict?: string } }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

/** A port nothing listens on now (for a process that must be told its port before it starts). */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
