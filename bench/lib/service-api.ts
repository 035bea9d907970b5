/**
 * What the benches that run a service process on a scratch database share: a connection to the
 * PostgreSQL server itself (to create and drop that database) and a JSON caller of the service.
 */
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
