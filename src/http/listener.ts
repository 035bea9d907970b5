import http from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { Hono } from 'hono';
import type { Duplex } from 'node:stream';
import { AppError, problemBody, problemResponse } from '../errors';

/** The port cannot be bound: the message is the one line the operator reads. */
export class ListenError extends Error {
  override readonly name = 'ListenError';
}

/**
 * The service's listening socket. main.ts binds it before anything is written (keys generated,
 * the database opened, migrated or seeded, an admin key printed), so that a busy port costs
 * nothing but one line; until the app is ready it answers 503 `service_starting` with
 * Retry-After, so a health check or a client that comes early is told to wait rather than left
 * without an answer.
 */
export interface Listener {
  readonly port: number;
  /** From now on requests go to `fetch` (the app). */
  serve(fetch: (request: Request, env: unknown) => Response | Promise<Response>): void;
  /**
   * Stops accepting connections and answers every request already received; resolves once every
   * connection is closed. Idle keep-alive connections are closed at once, busy ones after their
   * answer (which says `Connection: close`); one still busy after `graceMs` (a long stream) is
   * cut. Resolves with how many were cut.
   */
  close(graceMs: number): Promise<number>;
}

/** What a request gets while the service starts (or after it stopped serving). */
function startingAnswer(): http.RequestListener {
  const app = new Hono();
  app.all('*', (c) =>
    problemResponse(
      c,
      new AppError('service_starting', 'the service is starting; retry shortly', {
        retryAfterSeconds: 1,
      }),
    ),
  );
  return getRequestListener(app.fetch);
}

/**
 * What a request the HTTP parser refused gets, instead of Node's bare status line: a problem, as
 * every other refusal. A request line or headers past the parser's limit (16 KB: a URL of many
 * kilobytes) is 431; anything else it cannot parse is 400. The connection is closed after.
 */
function answerUnparsable(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable || error.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const problem =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? new AppError('request_header_too_large', 'the request line and headers are too large')
      : new AppError('bad_request', 'the request is not valid HTTP');
  const body = JSON.stringify(problemBody(problem));
  socket.end(
    `HTTP/1.1 ${problem.status} ${http.STATUS_CODES[problem.status]}\r\n` +
      'content-type: application/problem+json\r\n' +
      'cache-control: no-store\r\n' +
      `content-length: ${Buffer.byteLength(body)}\r\n` +
      'connection: close\r\n\r\n' +
      body,
  );
}

export async function bindPort(port: number): Promise<Listener> {
  let handler = startingAnswer();
  let closing = false;
  const server = http.createServer((req, res) => {
    if (closing) res.setHeader('connection', 'close');
    void handler(req, res);
  });
  server.on('clientError', answerUnparsable);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'EADDRINUSE')
      throw new ListenError(`port ${port} is already in use (EADDRINUSE); set PORT to a free one`);
    if (error.code === 'EACCES')
      throw new ListenError(`port ${port} needs privileges this user lacks (EACCES)`);
    throw new ListenError(`cannot listen on port ${port}: ${error.code ?? error.message}`);
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    serve(fetch) {
      handler = getRequestListener(fetch);
    },
    close(graceMs) {
      closing = true;
      return new Promise<number>((resolve) => {
        let cut = 0;
        // Connections that wait for their next request would keep close() waiting: they are
        // closed as they fall idle (a busy one finishes its answer first).
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
        // An answer still streaming after the grace (a label PDF, an export, a slow reader) is cut:
        // its client sees a truncated body and asks again, as after any dropped connection.
        const grace = setTimeout(() => {
          server.getConnections((_, open) => {
            cut = open;
            server.closeAllConnections();
          });
        }, graceMs);
        server.close(() => {
          clearInterval(sweep);
          clearTimeout(grace);
          resolve(cut);
        });
        server.closeIdleConnections();
      });
    },
  };
}
