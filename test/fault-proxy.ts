import net from 'node:net';

/**
 * A TCP proxy between the service and PostgreSQL that a test can break the way networks and
 * database servers break:
 *
 * - `reset()`: every established connection is reset (TCP RST on both sides), as when PostgreSQL
 *   restarts, fails over or a middlebox drops its state;
 * - `refuse()`: new connections are refused (the port stops listening: ECONNREFUSED), as while
 *   PostgreSQL is down; established ones are left alone unless reset too;
 * - `blackhole()`: nothing passes in either direction and nobody is told, as when packets are
 *   silently dropped. Bytes are held, not lost: `heal()` delivers them, as TCP retransmission would
 *   once the path is back. New connections are accepted and held unanswered.
 *
 * `heal()` undoes all three. Every socket error is swallowed: the proxy must never be what fails.
 */
export interface FaultProxy {
  readonly port: number;
  /** `url` with its host and port replaced by the proxy's. */
  urlFor(url: string): string;
  reset(): void;
  refuse(): Promise<void>;
  blackhole(): void;
  heal(): Promise<void>;
  /** Connections currently open through the proxy. */
  readonly openConnections: number;
  /** Connections accepted since the proxy started. */
  readonly acceptedConnections: number;
  close(): Promise<void>;
}

interface Pair {
  client: net.Socket;
  upstream: net.Socket | undefined;
  /** Bytes held while black-holed, each way. */
  toUpstream: Buffer[];
  toClient: Buffer[];
}

export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  const pairs = new Set<Pair>();
  let holding = false;
  let listening = false;
  let accepted = 0;
  /** Connections accepted while black-holed: no upstream yet. */
  const held: Pair[] = [];
  /** Connections one side closed while black-holed: the close reaches the other side on heal. */
  const closedWhileHeld = new Set<Pair>();

  const destroy = (pair: Pair, reset: boolean) => {
    if (!pairs.has(pair)) return;
    // In a black hole the other side is not told either: PostgreSQL keeps the session (and its
    // locks) until its own timeouts end it, or until the path heals and the close gets through.
    if (holding && !reset) {
      closedWhileHeld.add(pair);
      return;
    }
    pairs.delete(pair);
    for (const socket of [pair.client, pair.upstream]) {
      if (!socket || socket.destroyed) continue;
      if (reset) socket.resetAndDestroy();
      else socket.destroy();
    }
  };

  // Bytes are forwarded by hand rather than piped: a pipe resumes a paused socket on 'drain',
  // and a black hole must hold everything until it is healed.
  const connectUpstream = (pair: Pair) => {
    const upstream = net.connect(target.port, target.host);
    pair.upstream = upstream;
    upstream.on('error', () => destroy(pair, false));
    upstream.on('close', () => destroy(pair, false));
    upstream.on('data', (chunk: Buffer) => {
      if (holding) pair.toClient.push(chunk);
      else pair.client.write(chunk);
    });
    for (const chunk of pair.toUpstream.splice(0)) upstream.write(chunk);
  };

  const server = net.createServer((socket) => {
    accepted += 1;
    const pair: Pair = { client: socket, upstream: undefined, toUpstream: [], toClient: [] };
    pairs.add(pair);
    socket.on('error', () => {
      // Reset by the service: what it sent into the black hole is never retransmitted.
      if (holding) pair.toUpstream.length = 0;
      destroy(pair, false);
    });
    socket.on('close', () => destroy(pair, false));
    socket.on('data', (chunk: Buffer) => {
      if (holding || !pair.upstream) pair.toUpstream.push(chunk);
      else pair.upstream.write(chunk);
    });
    // Accepted while black-holed: never answered, the client's connect timeout is what ends it.
    if (holding) held.push(pair);
    else connectUpstream(pair);
  });
  server.on('error', () => {});

  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        listening = true;
        resolve();
      });
    });
  await listen(0);
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    urlFor(url: string) {
      const parsed = new URL(url);
      parsed.hostname = '127.0.0.1';
      parsed.port = String(port);
      return parsed.toString();
    },
    reset() {
      for (const pair of [...pairs]) destroy(pair, true);
      held.length = 0;
      closedWhileHeld.clear();
    },
    async refuse() {
      if (!listening) return;
      listening = false;
      // close() stops accepting at once; its callback waits for open connections, so do not wait.
      server.close();
    },
    blackhole() {
      holding = true;
    },
    async heal() {
      holding = false;
      for (const pair of held.splice(0)) if (pairs.has(pair)) connectUpstream(pair);
      for (const pair of pairs) {
        if (!pair.upstream) continue;
        for (const chunk of pair.toUpstream.splice(0)) pair.upstream.write(chunk);
        for (const chunk of pair.toClient.splice(0)) pair.client.write(chunk);
      }
      // A side closed with FIN while held: its last bytes arrive first, then the close.
      for (const pair of closedWhileHeld) {
        pairs.delete(pair);
        pair.client.destroy();
        pair.upstream?.end();
      }
      closedWhileHeld.clear();
      if (!listening) await listen(port);
    },
    get openConnections() {
      return pairs.size;
    },
    get acceptedConnections() {
      return accepted;
    },
    async close() {
      holding = false;
      for (const pair of [...pairs]) destroy(pair, false);
      if (listening) await new Promise<void>((resolve) => server.close(() => resolve()));
      listening = false;
    },
  };
}
