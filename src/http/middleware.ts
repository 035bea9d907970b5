import { randomUUID } from 'node:crypto';
import { bodyLimit as streamingBodyLimit } from 'hono/body-limit';
import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { Logger } from 'pino';
import { AppError } from '../errors';
import { preflightAnswer, shareAcrossOrigins } from './cors';
import { mayHaveBody } from './no-body';
import { redactPath } from './redact';
import type { AppEnv } from './env';
import { observeRequest } from '../metrics/request-metrics';
import type { ServiceMetrics } from '../metrics/service-metrics';

/**
 * The frame of every request, one middleware around the rest (each layer costs every request an
 * async frame of its own, and these all wrap the same answer):
 * - an id: a client's `X-Request-Id` if it is sane, else a UUID; echoed, and in the log line;
 * - `Cache-Control: no-store` on every answer that does not choose its own caching. Answers carry
 *   new API keys, mark codes (exports, label sheets, QR codes, the `/m/{code}` page whose URL is
 *   the code) and verdicts that change with a certificate's status: none of it belongs in a shared
 *   or a browser cache. An answer meant to be cached (a certificate's QR code) says so itself;
 * - one structured log line: method, path (never the query string or body, which may hold a
 *   credential or a mark code), status, duration, request id and the API key's id;
 * - the request's metric (route pattern, status, time: ../metrics/request-metrics);
 * - CORS for the public API (./cors): preflights answered here, answers shared with any page;
 * - `onChange` for a change it answered (the reads right after it go to the primary).
 *
 * @example app.use('*', requestFrame({ logger, metrics, methodsFor: allowedMethods(app) }))
 */
export function requestFrame(options: {
  logger: Logger;
  metrics: ServiceMetrics;
  /** The methods the application routes for a path (./allowed-methods), for CORS preflights. */
  methodsFor: (path: string) => string[];
  /** Told of every request by an unsafe method (POST, PUT, PATCH, DELETE) answered below 400. */
  onChange?: ((c: Context<AppEnv>) => void) | undefined;
}) {
  const { logger, metrics, methodsFor, onChange } = options;
  return createMiddleware<AppEnv>(async function frameRequest(c, next) {
    const started = performance.now();
    const incoming = c.req.header(REQUEST_ID_HEADER);
    const id = incoming && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    c.set('requestId', id);
    c.set('logger', logger);
    c.header(REQUEST_ID_HEADER, id);
    const preflight = preflightAnswer(c, methodsFor);
    if (preflight) {
      c.res = preflight;
      c.res.headers.set(REQUEST_ID_HEADER, id); // set on the context's answer before it was made
    } else await next();
    shareAcrossOrigins(c);
    if (!c.res.headers.has('cache-control')) c.res.headers.set('cache-control', 'no-store');
    if (onChange && c.res.status < 400 && !SAFE_METHODS.has(c.req.method)) onChange(c);
    if (logger.isLevelEnabled('info')) {
      const principal = c.get('principal');
      logger.info({
        req: id,
        method: c.req.method,
        path: redactPath(c.req.path),
        status: c.res.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
        key: principal?.keyId,
        role: principal?.role,
      });
    }
    observeRequest(metrics, c, started);
  });
}

const REQUEST_ID_HEADER = 'x-request-id';
/** RFC 9110 §9.2.1: methods that change nothing. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,100}$/;

/**
 * A fixed-window count of requests per client, in memory (bounded: the table is cleared each
 * window and never holds more than `maxClients` clients). `limit` 0 turns it off.
 */
export class RateLimiter {
  readonly limit: number;
  private readonly windowMs: number;
  private readonly maxClients: number;
  private readonly now: () => number;
  private windowStart: number;
  private counts = new Map<string, number>();

  constructor(options: {
    limit: number;
    windowMs?: number;
    maxClients?: number;
    now?: () => number;
  }) {
    this.limit = options.limit;
    this.windowMs = options.windowMs ?? 60_000;
    this.maxClients = options.maxClients ?? 100_000;
    this.now = options.now ?? Date.now;
    this.windowStart = this.now();
  }

  get enabled(): boolean {
    return this.limit > 0;
  }

  /** Counts one request of `client`: how many it has left, and when to retry if none. */
  hit(client: string): { allowed: boolean; remaining: number; retryAfterSeconds: number } {
    const t = this.roll();
    const used = (this.counts.get(client) ?? 0) + 1;
    if (this.counts.size < this.maxClients || this.counts.has(client))
      this.counts.set(client, used);
    return {
      allowed: !this.enabled || used <= this.limit,
      remaining: Math.max(0, this.limit - used),
      retryAfterSeconds: Math.max(1, Math.ceil((this.windowStart + this.windowMs - t) / 1000)),
    };
  }

  /** Whether `client` has used up this window (without counting a request). */
  exhausted(client: string): boolean {
    this.roll();
    return this.enabled && (this.counts.get(client) ?? 0) >= this.limit;
  }

  private roll(): number {
    const t = this.now();
    if (t - this.windowStart >= this.windowMs) {
      this.windowStart = t;
      this.counts = new Map();
    }
    return t;
  }
}

/** The problem of a client over its limit (429 with Retry-After). */
export function rateLimited(limit: number, retryAfterSeconds: number): AppError {
  return new AppError('rate_limited', `more than ${limit} requests a minute from this address`, {
    retryAfterSeconds,
  });
}

/**
 * Limits anonymous requests per client address with `limiter`, a request whose key was not
 * valid among them (authenticate leaves it anonymous); authenticated callers are accountable by
 * their key.
 *
 * @example app.use('*', rateLimit({ limiter, clientAddress }))
 */
export function rateLimit(options: {
  limiter: RateLimiter;
  clientAddress: (c: Context<AppEnv>) => string;
  /** Requests never limited: liveness, which costs nothing and must not fail for a neighbour. */
  exempt?: (c: Context<AppEnv>) => boolean;
}) {
  const { limiter } = options;
  return createMiddleware<AppEnv>(async function limitRate(c, next) {
    if (!limiter.enabled || c.get('principal') || options.exempt?.(c)) return next();
    const { allowed, remaining, retryAfterSeconds } = limiter.hit(options.clientAddress(c));
    c.header('ratelimit-limit', String(limiter.limit));
    c.header('ratelimit-remaining', String(remaining));
    if (!allowed) throw rateLimited(limiter.limit, retryAfterSeconds);
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
export function bodyLimit(options: { maxBytes: number; exempt?: (c: Context) => boolean }) {
  const tooLarge = () => {
    throw new AppError(
      'payload_too_large',
      `request bodies are limited to ${mebibytes(options.maxBytes)}`,
    );
  };
  const counting = streamingBodyLimit({ maxSize: options.maxBytes, onError: tooLarge });
  return createMiddleware<AppEnv>(async function limitBody(c, next) {
    if (options.exempt?.(c)) return next();
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

/**
 * Refuses a body in a content coding (RFC 9110 §8.4, `Content-Encoding: gzip`): the service decodes
 * none, and gzip bytes read as JSON or CSV would be reported as a malformed body, or worse, taken.
 * 415 (RFC 9110 §15.5.16). `identity` is no coding; a request without a body has nothing coded.
 *
 * @example app.use('*', refuseContentCoding())
 */
export function refuseContentCoding() {
  return createMiddleware<AppEnv>(async function refuseCoding(c, next) {
    const coding = c.req.header('content-encoding')?.trim().toLowerCase();
    if (coding && coding !== 'identity' && mayHaveBody(c.req)) {
      throw new AppError(
        'unsupported_media_type',
        'request bodies are taken without a content coding (Content-Encoding: identity)',
      );
    }
    await next();
  });
}
