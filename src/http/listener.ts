import http from 'node:http';
import net from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { Hono } from 'hono';
import type { Duplex } from 'node:stream';
import { AppError, problemBody, problemResponse } from '../errors';
import { shareAcrossOrigins } from './cors';
import { redactPath } from './redact';

/** The port cannot be bound: the message is the one line the operator reads. */
export class ListenError extends Error {
  override readonly name = 'ListenError';
}

/**
 * The service's listening socket. main.ts binds it before anything is written (keys generated,
 * the database opened, migrated or seeded, an admin key printed), so that a busy port costs
 * nothing but one line; until the app is ready it answers 503 `service_starting` with
 * Retry-After (`/healthz` 200: the process is up), so a health check or a client that comes early
 * is told to wait rather than left without an answer.
 */
export interface Listener {
  readonly port: number;
  /** From now on requests go to `fetch` (the app). */
  serve(
    fetch: (request: Request, env: unknown) => Response | Promise<Response>,
    onRefused?: (refusal: Refusal) => void,
    /** The methods the app's routes take at a path (what a CONNECT to it is told in `Allow`). */
    methodsFor?: (path: string) => string[],
  ): void;
  /**
   * Stops accepting connections and answers every request already received; resolves once every
   * connection is closed. Every answer from then on says `Connection: close`, and its connection
   * closes after it (a request pipelined behind it is not run); an idle keep-alive connection is
   * left open for a short drain, so that a request sent on it just then is answered, then closed;
   * one still busy after `graceMs` (a long stream) is cut. Resolves with how many were cut.
   */
  close(graceMs: number): Promise<number>;
}

/**
 * A request answered before it reached the app (SPEC "Service": one log line a request), for the
 * log: the app's own request log never sees it. The path is redacted as the app's is.
 */
export interface Refusal {
  status: number;
  code?: string | undefined;
  method?: string | undefined;
  path?: string | undefined;
}

/**
 * What a request gets while the service starts: liveness says the process is up (SPEC: `/healthz`
 * is "process up"; an orchestrator must not restart a process that waits for its database),
 * everything else 503 `service_starting`.
 */
function startingAnswer(errorHandler: (error: unknown) => Response): http.RequestListener {
  const app = new Hono();
  // A page calling the public API reads the 503 and its Retry-After, not a CORS failure.
  app.use('*', async (c, next) => {
    await next();
    shareAcrossOrigins(c);
  });
  app.get('/healthz', (c) => c.json({ status: 'starting' }, 200, { 'cache-control': 'no-store' }));
  app.all('*', (c) =>
    problemResponse(
      c,
      new AppError('service_starting', 'the service is starting; retry shortly', {
        retryAfterSeconds: 1,
      }),
    ),
  );
  return getRequestListener(app.fetch, { errorHandler });
}

/**
 * How long a client may take: headers must be complete within `headersMs` (a real client sends
 * them at once; a slow-header client only holds a socket), a whole request within `requestMs`
 * (Node's default: a large import on a slow link), both checked every `checkEveryMs` (Node's
 * default check is every 30 s, which let a stalled body wait 320 s). Tests shorten them.
 */
export interface ListenerTimeouts {
  headersMs: number;
  requestMs: number;
  checkEveryMs: number;
}

const DEFAULT_TIMEOUTS: ListenerTimeouts = {
  headersMs: 20_000,
  requestMs: 300_000,
  checkEveryMs: 5_000,
};

/** Every answer the listener gives itself: a problem, uncached, and the connection closed. */
function problemAnswer(problem: AppError, extraHeaders: Record<string, string> = {}) {
  const body = JSON.stringify(problemBody(problem));
  const headers: Record<string, string> = {
    ...extraHeaders,
    'content-type': 'application/problem+json',
    'cache-control': 'no-store',
    'content-length': String(Buffer.byteLength(body)),
    connection: 'close',
  };
  return { body, headers };
}

/** {@link problemAnswer} as a whole HTTP/1.1 message, for a socket no response object owns. */
function problemMessage(problem: AppError, extraHeaders?: Record<string, string>): string {
  const { body, headers } = problemAnswer(problem, extraHeaders);
  const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  return `HTTP/1.1 ${problem.status} ${http.STATUS_CODES[problem.status]}\r\n${head.join('')}\r\n${body}`;
}

/**
 * What a request the HTTP parser refused gets, instead of Node's bare status line: a problem, as
 * every other refusal. A request line or headers past the parser's limit (16 KB: a URL of many
 * kilobytes) is 431; a request not complete in time (ListenerTimeouts) is 408 (RFC 9110 §15.5.9);
 * anything else it cannot parse is 400. The connection is closed after.
 */
function answerUnparsable(error: NodeJS.ErrnoException, socket: Duplex): AppError | undefined {
  if (!socket.writable || error.code === 'ECONNRESET') {
    socket.destroy();
    return undefined;
  }
  const problem =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? new AppError('request_header_too_large', 'the request line and headers are too large')
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new AppError('request_timeout', 'the request did not arrive in time')
        : new AppError('bad_request', 'the request is not valid HTTP');
  socket.end(problemMessage(problem));
  return problem;
}

/**
 * What a request the router cannot turn into a URL gets (a malformed Host, a backslash in the
 * path, an absolute target of another scheme): a 400 problem that closes the connection, where
 * the adapter's own answer was an empty 400 that kept it open. Anything else thrown before the
 * app answers is a 500 problem, never a stack trace.
 */
function unroutableProblem(error: unknown): AppError {
  return error instanceof Error && error.name === 'RequestError'
    ? new AppError('bad_request', 'the request target or Host header is not valid')
    : new AppError('internal_error', 'the request could not be handled');
}

/** {@link unroutableProblem} as the adapter's answer. */
function answerUnroutable(problem: AppError): Response {
  const { body, headers } = problemAnswer(problem);
  return new Response(body, { status: problem.status, headers });
}

/** The methods some route of the service answers: what `OPTIONS *` lists (RFC 9110 §9.3.7). */
const SERVICE_METHODS = 'GET, HEAD, POST, DELETE';

/**
 * What the parser lets through but the service must still refuse, before any routing: a request
 * without exactly one Host header (RFC 9112 §3.2: 400 for none in HTTP/1.1, or several; the router
 * cannot build the request's URL without one; HTTP/1.0 may leave it out) and a request for `*`, which is only `OPTIONS *`
 * (answered with the service’s methods). Returns what it answered; an ordinary request goes on.
 */
function refusePreRouting(
  req: http.IncomingMessage,
  res: http.ServerResponse,
): { status: number; code?: string } | undefined {
  let hosts = 0;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') hosts += 1;
  }
  // HTTP/1.0 has no Host requirement: such a request is for this server, under any name.
  if (hosts === 0 && req.httpVersionMajor === 1 && req.httpVersionMinor === 0) {
    req.headers.host = 'localhost';
    hosts = 1;
  }
  let problem: AppError | undefined;
  if (req.url === '*') {
    if (req.method === 'OPTIONS' && hosts === 1) {
      res.writeHead(204, { allow: SERVICE_METHODS, 'cache-control': 'no-store' }).end();
      return { status: 204 };
    }
    problem = new AppError('bad_request', 'only OPTIONS may ask for *');
  } else if (hosts !== 1) {
    problem = new AppError('bad_request', 'a request needs exactly one Host header');
  }
  if (!problem) return undefined;
  answerProblem(res, problem);
  return problem;
}

/**
 * At shutdown, how long an idle keep-alive connection is left open, so that a request its client
 * sent on it just then is answered (with `Connection: close`) rather than reset.
 */
const IDLE_DRAIN_MS = 1_000;

/** A problem as the whole answer, closing the connection after it. */
function answerProblem(res: http.ServerResponse, problem: AppError): void {
  const retryAfter = problem.details.retryAfterSeconds;
  const { body, headers } = problemAnswer(
    problem,
    retryAfter === undefined ? {} : { 'retry-after': String(retryAfter) },
  );
  res.writeHead(problem.status, headers).end(body);
}

/**
 * The path a request target names, as the router sees it (dot segments resolved, percent-encoding
 * decoded): for an origin form (`/healthz`) or an absolute form (`http://host/healthz`); undefined
 * for an authority (`host:443`, what CONNECT normally names).
 */
function targetPath(target: string): string | undefined {
  let url: URL;
  try {
    if (target.startsWith('/')) url = new URL(target, 'http://localhost');
    else if (/^https?:\/\//i.test(target)) url = new URL(target);
    else return undefined;
  } catch {
    return undefined;
  }
  try {
    return decodeURI(url.pathname);
  } catch {
    return url.pathname;
  }
}

/**
 * CONNECT: no route of the service takes it. To a path a route answers, 405 with the methods its
 * routes take there (as any other wrong method gets); to a path none answers, 404; to an
 * authority (a tunnel to `host:port`), 405 with the methods the service takes.
 */
function answerConnect(
  socket: Duplex,
  target: string,
  methodsFor: ((path: string) => string[]) | undefined,
): AppError | undefined {
  if (!socket.writable) {
    socket.destroy();
    return undefined;
  }
  let allow = SERVICE_METHODS;
  const path = targetPath(target);
  if (path !== undefined && methodsFor) {
    const methods = methodsFor(path);
    if (methods.length === 0) {
      const problem = new AppError('not_found', 'no such endpoint');
      socket.end(problemMessage(problem));
      return problem;
    }
    allow = methods.join(', ');
  }
  const problem = new AppError('method_not_allowed', 'CONNECT is not allowed here');
  socket.end(problemMessage(problem, { allow }));
  return problem;
}

/** An `Expect` other than 100-continue: 417 (RFC 9110 §10.1.1), as a problem. */
function answerExpectation(res: http.ServerResponse): AppError {
  const problem = new AppError('expectation_failed', 'only "Expect: 100-continue" is supported');
  answerProblem(res, problem);
  return problem;
}

export async function bindPort(
  port: number,
  timeouts: ListenerTimeouts = DEFAULT_TIMEOUTS,
): Promise<Listener> {
  let onRefused: (refusal: Refusal) => void = () => {};
  const refused = (answer: { status: number; code?: string }, req?: http.IncomingMessage) =>
    onRefused({
      status: answer.status,
      code: answer.code,
      method: req?.method,
      path: req?.url === undefined ? undefined : redactPath(req.url.split('?')[0]!),
    });
  const errorHandler = (error: unknown) => {
    const problem = unroutableProblem(error);
    refused(problem);
    return answerUnroutable(problem);
  };
  let handler = startingAnswer(errorHandler);
  let closing = false;
  /** Answers under way, so that closing can tell each to close its connection after it. */
  const answering = new Set<http.ServerResponse>();
  /** Connections closing after an answer: what was pipelined behind it is not run. */
  const ending = new WeakSet<object>();
  const server = http.createServer(
    {
      headersTimeout: timeouts.headersMs,
      requestTimeout: timeouts.requestMs,
      connectionsCheckingInterval: timeouts.checkEveryMs,
      // Node's own refusal of a missing Host is a bare 400: refusePreRouting answers it instead.
      requireHostHeader: false,
    },
    (req, res) => {
      const refusal = refusePreRouting(req, res);
      if (refusal) return refused(refusal, req);
      if (closing) {
        // A request pipelined behind the answer that closes its connection would run, and its
        // answer be lost with the connection: it is not run, and answered so (in its turn).
        if (ending.has(req.socket))
          return answerProblem(
            res,
            new AppError('service_stopping', 'the service is stopping; send it again', {
              retryAfterSeconds: 1,
            }),
          );
        ending.add(req.socket);
        res.setHeader('connection', 'close');
      }
      answering.add(res);
      res.once('close', () => answering.delete(res));
      void handler(req, res);
    },
  );
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    const problem = answerUnparsable(error, socket);
    if (problem) refused(problem);
  });
  server.on('checkExpectation', (req, res) => refused(answerExpectation(res), req));
  let methodsFor: ((path: string) => string[]) | undefined;
  server.on('connect', (req, socket: Duplex) => {
    const problem = answerConnect(socket, req.url ?? '', methodsFor);
    if (problem) refused(problem, req);
  });
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
    serve(fetch, log, allowed) {
      if (log) onRefused = log;
      methodsFor = allowed;
      handler = getRequestListener(fetch, { errorHandler });
    },
    close(graceMs) {
      closing = true;
      // An answer under way says so too, or its connection, kept alive, would be closed as it fell
      // idle while its client sent the next request on it.
      // (Not one of several pipelined on a connection: only the last answer may say so, and which
      // is last is not known yet. Those close as they fall idle, as before.)
      // Each connection's one answer under way, or null where several are.
      const soleAnswer = new Map<object, http.ServerResponse | null>();
      for (const res of answering) {
        const socket = res.req.socket;
        soleAnswer.set(socket, soleAnswer.has(socket) ? null : res);
      }
      for (const [socket, res] of soleAnswer) {
        if (!res || res.headersSent) continue;
        ending.add(socket);
        res.setHeader('connection', 'close');
      }
      return new Promise<number>((resolve) => {
        let cut = 0;
        // Connections that wait for their next request would keep close() waiting: they are
        // closed once idle, but not at once. A keep-alive client may have sent its next request
        // on one a moment ago, unread yet: closed then, it is reset with no answer (an outside
        // probe: 8 of 2,300 requests at a SIGTERM under load), and a client does not send a POST
        // again. For a short drain each such request is answered, with `Connection: close`;
        // then what is still idle is closed as it falls idle (a busy one finishes first).
        let sweep: NodeJS.Timeout | undefined;
        const drain = setTimeout(
          () => {
            // http.Server#close now: it closes the idle connections (and stops its timeout
            // checks); the listening socket is already closed.
            server.close();
            sweep = setInterval(() => server.closeIdleConnections(), 50);
          },
          Math.min(IDLE_DRAIN_MS, graceMs / 4),
        );
        // An answer still streaming after the grace (a label PDF, an export, a slow reader) is cut:
        // its client sees a truncated body and asks again, as after any dropped connection.
        const grace = setTimeout(() => {
          server.getConnections((_, open) => {
            cut = open;
            server.closeAllConnections();
          });
        }, graceMs);
        // Stops accepting without http.Server#close's own closing of idle connections (above).
        net.Server.prototype.close.call(server, () => {
          // Closed before the drain ended: http.Server#close still stops its timeout checks.
          if (sweep === undefined) server.close();
          clearTimeout(drain);
          clearInterval(sweep);
          clearTimeout(grace);
          resolve(cut);
        });
      });
    },
  };
}
