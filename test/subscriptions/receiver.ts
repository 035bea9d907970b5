import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a path answers, one step per request; the last step repeats. */
export type ReceiverStep = 'ok' | 'fail' | 'hang';

export interface ReceivedWebhook {
  path: string;
  headers: Record<string, string>;
  body: string;
  answered: ReceiverStep;
  at: number;
}

/**
 * A local webhook receiver (127.0.0.1): each path follows its script of answers — 200, 500, or
 * never answering (the sender's timeout ends it) — and keeps every request it got.
 */
export async function startReceiver(scripts: Record<string, ReceiverStep[]> = {}) {
  const received: ReceivedWebhook[] = [];
  const seen = new Map<string, number>();
  const hanging = new Set<http.ServerResponse>();
  const waiters: (() => void)[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      const path = request.url ?? '/';
      const script = scripts[path] ?? ['ok'];
      const n = seen.get(path) ?? 0;
      seen.set(path, n + 1);
      const step = script[Math.min(n, script.length - 1)]!;
      received.push({
        path,
        headers: Object.fromEntries(
          Object.entries(request.headers).map(([k, v]) => [k, String(v)]),
        ),
        body: Buffer.concat(chunks).toString('utf8'),
        answered: step,
        at: Date.now(),
      });
      for (const wake of waiters.splice(0)) wake();
      if (step === 'ok') response.writeHead(204).end();
      else if (step === 'fail') response.writeHead(500).end('down for maintenance');
      else hanging.add(response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    received,
    /** Waits until `predicate` holds over what was received (bounded). */
    async waitFor(predicate: (r: ReceivedWebhook[]) => boolean, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(received)) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`receiver: condition not met in ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(left, 250));
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
    async close() {
      for (const r of hanging) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
