import { randomUUID } from 'node:crypto';
import { bodyLimit as streamingBodyLimit } from 'hono/body-limit';
import { createMiddleware } from 'hono/factory';
import type { Logger } from 'pino';
import { AppError } from '../errors';
import { redactPath } from './redact';
import type { AppEnv } from './env';

/**
 * Gives every request an id (a client's `X-Request-Id` if it is sane, else a UUID) and echoes it.
 */
export function requestId(options: { header?: string } = {}) {
  const header = options.header ?? 'x-request-id';
  return createMiddleware<AppEnv>(async function setRequestId(c, next) {
    const incoming = c.req.header(header);
    const id = incoming && /^[A-Za-z0-9._:-]{1,100}$/.test(incoming) ? incoming : randomUUID();
    c.set('requestId', id);
    c.header(header, id);
    await next();
  });
}

/**
 * One structured log line per request: method, path (never the query string or body, which may
 * hold a credential or a mark code), status, duration, request id and the API key's id.
 */
export function requestLog(options: { logger: Logger }) {
  return createMiddleware<AppEnv>(async function logRequest(c, next) {
    const started = performance.now();
    await next();
    const principal = c.get('principal');
    options.logger.info({
      req: c.get('requestId'),
      method: c.req.method,
      path: redactPath(c.req.path),
      status: c.res.status,
      ms: Math.round((performance.now() - started) * 10) / 10,
      key: principal?.keyId,
      role: principal?.role,
    });
  });
}

/**
 * `Cache-Control: no-store` on every answer that does not choose its own caching. Answers carry
 * new API keys, mark codes (exports, label sheets, QR codes, the `/m/{code}` page whose URL is the
 * code) and verdicts that change with a certificate's status: none of it belongs in a shared or a
 * browser cache. An answer meant to be cached (a certificate's QR code) says so itself.
 *
 * @example app.use('*', noStoreByDefault())
 */
export function noStoreByDefault() {
  return createMiddleware<AppEnv>(async function setNoStore(c, next) {
    await next();
    if (!c.res.headers.has('cache-control')) c.res.headers.set('cache-control', 'no-store');
  });
}

/**
 * Fixed-window rate limit per client address, in memory (bounded: the table is cleared each
 * window, and never holds more than `maxClients` addresses). `limit` 0 turns it off.
 */
export function rateLimit(options: {
  limit: number;
  windowMs?: number;
  maxClients?: number;
  clientAddress: (c: Parameters<Parameters<typeof createMiddleware<AppEnv>>[0]>[0]) => string;
  now?: () => number;
}) {
  const windowMs = options.windowMs ?? 60_000;
  const maxClients = options.maxClients ?? 100_000;
  const now = options.now ?? Date.now;
  let windowStart = now();
  let counts = new Map<string, number>();
  return createMiddleware<AppEnv>(async function limitRate(c, next) {
    if (options.limit <= 0) return next();
    const t = now();
    if (t - windowStart >= windowMs) {
      windowStart = t;
      counts = new Map();
    }
    const client = options.clientAddress(c);
    const used = (counts.get(client) ?? 0) + 1;
    if (counts.size < maxClients || counts.has(client)) counts.set(client, used);
    c.header('ratelimit-limit', String(options.limit));
    c.header('ratelimit-remaining', String(Math.max(0, options.limit - used)));
    if (used > options.limit) {
      const retryAfterSeconds = Math.max(1, Math.ceil((windowStart + windowMs - t) / 1000));
      throw new AppError(
        'rate_limited',
        `more than ${options.limit} requests a minute from this address`,
        {
          retryAfterSeconds,
        },
      );
    }
    await next();
  });
}

/**
 * Refuses request bodies over `maxBytes` with 413 `payload_too_large`. A declared Content-Length
 * is enough to decide (Node's parser never reads past it), so only a body without one (chunked) is
 * counted as it streams in. An ordinary request's body is not touched here: asking for it would
 * build the whole Fetch `Request` (stream, abort signal) that the route's JSON reader does without,
 * which cost the mark verification path about a tenth of its time.
 */
export function bodyLimit(options: { maxBytes: number }) {
  const tooLarge = () => {
    throw new AppError(
      'payload_too_large',
      `request bodies are limited to ${mebibytes(options.maxBytes)}`,
    );
  };
  const counting = streamingBodyLimit({ maxSize: options.maxBytes, onError: tooLarge });
  return createMiddleware<AppEnv>(async function limitBody(c, next) {
    const declared = c.req.header('content-length');
    if (declared === undefined || c.req.header('transfer-encoding') !== undefined) {
      return c.req.method === 'GET' || c.req.method === 'HEAD' ? next() : counting(c, next);
    }
    if (Number(declared) > options.maxBytes) tooLarge();
    await next();
  });
}

const mebibytes = (bytes: number) =>
  bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${bytes} bytes`;
