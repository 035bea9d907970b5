import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers';
import { startFaultProxy, type FaultProxy } from '../fault-proxy';
import type { ServiceProcess } from '../service-process';
import { buildWorld, httpCaller, serviceSecrets, sleep, startService, type World } from './harness';

/**
 * A streamed answer (a batch's export) whose database goes away after its 200 and first bytes were
 * sent can no longer become a problem answer: it must then be cut, so that the client sees a
 * truncated body, as after any dropped connection. It must not end cleanly with the error's message
 * as its last line (a failed query's SQL and parameters, in what looks like a whole export), nor
 * print that error with its stack and SQL outside the structured log.
 */

/** Enough pages (10,000 marks each) that the export is still reading when the database goes. */
const MARKS = 60_000;

describe('a streamed export whose database is lost mid-stream', () => {
  let database: { url: string; drop(): Promise<void> };
  let proxy: FaultProxy;
  let service: ServiceProcess;
  let world: World;
  let batchId: string;
  const secrets = serviceSecrets();

  beforeAll(async () => {
    database = await createTestDatabase();
    const target = new URL(database.url);
    proxy = await startFaultProxy({ host: target.hostname, port: Number(target.port || 5432) });
    service = await startService(proxy.urlFor(database.url), secrets);
    const http = httpCaller(service.baseUrl);
    world = await buildWorld(http, secrets.adminKey);
    const issued = await http.call('POST', `/v1/certificates/${world.certificate.id}/marks`, {
      key: world.issuerKey,
      body: { count: MARKS },
      timeoutMs: 60_000,
    });
    expect([201, 202]).toContain(issued.status);
    batchId = issued.body.batchId as string;
    for (let status = issued.body.status as string; status !== 'done'; await sleep(250)) {
      status = (await http.call('GET', `/v1/mark-batches/${batchId}`, { key: world.issuerKey }))
        .body.status as string;
      expect(status).not.toBe('failed');
    }
  }, 120_000);

  afterAll(async () => {
    await service?.stop();
    await proxy?.close();
    await database?.drop();
    secrets.remove();
  });

  it('is cut, never ended cleanly with the error as its last line, and logs no SQL', async () => {
    const res = await fetch(`${service.baseUrl}/v1/mark-batches/${batchId}/marks`, {
      headers: { authorization: `Bearer ${world.issuerKey}` },
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const first = await reader.read();
    text += decoder.decode(first.value, { stream: true });
    // The database goes away (every connection reset, new ones refused) while the export streams.
    await proxy.refuse();
    proxy.reset();
    let cut = false;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
    } catch {
      cut = true;
    }
    await proxy.heal();
    const lines = text.split('\n').filter((line) => line !== '');
    // Cut, visibly: the client never holds a body that ended cleanly short of the batch.
    expect(cut).toBe(true);
    expect(lines.length).toBeLessThan(MARKS);
    expect(text).not.toMatch(/Failed query|Error:|select |params:/i);
    for (const line of lines.slice(0, -1)) expect(() => JSON.parse(line)).not.toThrow();
    // Every line the process wrote is a JSON log line, none with SQL; the cut is one of them.
    await sleep(500);
    const stray = service.output.filter((line) => {
      try {
        JSON.parse(line);
        return /Failed query|select "/i.test(line);
      } catch {
        return true;
      }
    });
    expect(stray).toEqual([]);
    expect(service.output.some((line) => line.includes('streamed answer cut'))).toBe(true);
    expect(service.exit).toBeUndefined();
  }, 60_000);
});
