/**
 * What the benches that run a service process on a scratch database share: a connection to the
 * PostgreSQL server itself (to create and drop that database), waiting for the service to be
 * ready, and a JSON caller of the service.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** Runs `fn` on a fresh connection to `serverUrl`, closed afterwards. */
export async function withServer<T>(serverUrl: URL, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: serverUrl.toString() });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * A new database named `certmark_bench_<prefix>_<random>` on DATABASE_URL's server (the local
 * PostgreSQL by default): its URL, and how to drop it (whoever is still connected).
 */
export async function scratchDatabase(
  prefix: string,
): Promise<{ url: string; drop(): Promise<void> }> {
  const serverUrl = new URL(
    process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  );
  const name = `certmark_bench_${prefix}_${randomBytes(3).toString('hex')}`;
  await withServer(serverUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () =>
      withServer(serverUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(
        () => undefined,
      ),
  };
}

/** Calls the service at `base` with a JSON body and an API key; any answer but 2xx throws. */
export function jsonCaller(base: string) {
  return async (method: string, route: string, key: string, body?: unknown): Promise<any> => {
    const res = await fetch(`${base}${route}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await res.json()) as unknown;
    if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
}

/**
 * Resolves once the service at `base` answers `GET /readyz` 200, polling every 100 ms; throws if
 * its process `child` exits first or after `tries` polls.
 */
export async function waitReady(base: string, child: ChildProcess, tries = 300): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (child.exitCode !== null) throw new Error(`service exited with ${child.exitCode}`);
    const ready = await fetch(`${base}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('service did not become ready');
}
