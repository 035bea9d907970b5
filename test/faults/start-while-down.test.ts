import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, freePort } from '../helpers';
import { startFaultProxy, type FaultProxy } from '../fault-proxy';
import { startServiceProcess, type ServiceProcess } from '../service-process';
import { serviceSecrets, sleep } from './harness';

/**
 * SPEC "Service": when the database is down, requests get 503 with Retry-After, and the service
 * recovers by itself — also when it is down as the service starts (a database that comes up after
 * the service, or restarts while it starts). The process used to exit 1 at once.
 */
describe('starting while the database is unreachable', () => {
  let database: { url: string; drop(): Promise<void> };
  let proxy: FaultProxy;
  let service: ServiceProcess | undefined;
  /** The start under test, kept so that a failed assertion cannot leave its process running. */
  let starting: Promise<ServiceProcess> | undefined;
  const secrets = serviceSecrets();

  beforeAll(async () => {
    database = await createTestDatabase();
    const target = new URL(database.url);
    proxy = await startFaultProxy({ host: target.hostname, port: Number(target.port || 5432) });
  });
  afterAll(async () => {
    // A start still waiting for the database (a test failed before it healed) ends, and stops.
    await proxy.heal();
    await (service ?? (await starting?.catch(() => undefined)))?.stop();
    await proxy.close();
    await database.drop();
    secrets.remove();
  });

  it('answers 503 service_starting while it waits, then starts by itself once the database is back', async () => {
    await proxy.refuse();
    const port = await freePort();
    const started = startServiceProcess({
      databaseUrl: proxy.urlFor(database.url),
      ...secrets,
      env: { PORT: String(port) },
      startTimeoutMs: 60_000,
    });
    started.catch(() => {});
    starting = started;
    const base = `http://127.0.0.1:${port}`;
    // The listener is bound before the database is opened: it answers, and says to come back.
    let waiting: Response | undefined;
    for (let i = 0; i < 100 && !waiting; i++) {
      waiting = await fetch(`${base}/readyz`).catch(() => undefined);
      if (!waiting) await sleep(100);
    }
    expect(waiting?.status).toBe(503);
    expect(waiting?.headers.get('content-type')).toContain('application/problem+json');
    expect(waiting?.headers.get('retry-after')).toBeTruthy();
    expect(((await waiting!.json()) as { code: string }).code).toBe('service_starting');
    // Still waiting a few tries later, not gone.
    await sleep(1_500);
    const still = await fetch(`${base}/v1/registry/certificates`);
    expect(still.status).toBe(503);
    // A page calling the public API can read that answer too (CORS), not only a server.
    expect(still.headers.get('access-control-allow-origin')).toBe('*');
    expect(waiting?.headers.get('access-control-allow-origin')).toBeNull(); // /readyz: not offered
    // Liveness is the process's: up while it waits (an orchestrator must not restart it for that).
    const live = await fetch(`${base}/healthz`);
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ status: 'starting' });

    await proxy.heal();
    service = await started;
    expect(service.baseUrl).toBe(base);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    const waited = service.output.filter((line) =>
      line.includes('database unreachable at start: waiting for it'),
    );
    expect(waited.length).toBeGreaterThanOrEqual(2);
    // Each is one JSON line, with no SQL or stack.
    for (const line of waited) {
      const entry = JSON.parse(line) as { level: number; attempt: number };
      expect(entry.level).toBe(40);
      expect(line).not.toMatch(/\n|at .*\.ts:\d+|SELECT /);
    }
    expect(service.exit).toBeUndefined();
  });
});
