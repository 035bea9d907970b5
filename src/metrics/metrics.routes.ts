import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { AppError } from '../errors';
import type { AppEnv } from '../http/env';
import { rateLimited, type RateLimiter } from '../http/middleware';
import { createRouter, defineRoute, problems } from '../http/openapi';
import type { ServiceMetrics } from './service-metrics';

/** The exposition's media type (Prometheus text format 0.0.4), as prom-client writes it. */
const EXPOSITION = 'text/plain; version=0.0.4; charset=utf-8';

const metricsRoute = defineRoute({
  operationId: 'getMetrics',
  method: 'get',
  path: '/metrics',
  security: [{ metricsToken: [] }],
  tags: ['Service'],
  summary: 'The service’s metrics for Prometheus (operators)',
  description:
    'Prometheus text format 0.0.4: requests by route pattern and status with their latency, ' +
    'verification answers by verdict and reason, the scan pipeline, database pools and breaker, ' +
    'audit sequencing lag, alert writes (the README lists every metric). With ' +
    '`METRICS_TOKEN` set, only `Authorization: Bearer <METRICS_TOKEN>` is answered; without it, ' +
    'only a client on the loopback interface whose request no proxy forwarded.',
  responses: {
    200: {
      description: 'The metrics',
      content: { [EXPOSITION]: { schema: z.string() } },
    },
    ...problems(
      { 401: 'METRICS_TOKEN is set and the request does not carry it (`unauthorized`)' },
      {
        403: 'No METRICS_TOKEN is set and the client is not on the loopback interface, or a proxy forwarded the request (`forbidden`)',
      },
      429,
    ),
  },
});

export interface MetricsAccess {
  /** METRICS_TOKEN: when set, the bearer token a scraper must send. */
  token: string | undefined;
  /** The TCP peer's address (never a forwarding header's). */
  socketAddress: (c: Context<AppEnv>) => string | undefined;
  /** Refusals count against the client's rate limit, so a token cannot be guessed at speed. */
  limiter: RateLimiter;
  clientAddress: (c: Context<AppEnv>) => string;
}

const digest = (text: string) => createHash('sha256').update(text).digest();

function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  if (address === '::1') return true;
  const v4 = address.replace(/^::ffff:/i, '');
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/** Headers a reverse proxy adds: a request carrying one came from elsewhere through it. */
const FORWARDING_HEADERS = ['forwarded', 'x-forwarded-for', 'x-real-ip'];

/**
 * Whether this request may read the metrics. With a token: the bearer token must match (compared
 * in constant time, over digests so that not even its length shows). Without: the TCP peer must be
 * a loopback address, and no forwarding header may be present — a reverse proxy on the same host
 * connects from loopback on behalf of anyone; a forwarding header is only ever believed here to
 * refuse, never to admit.
 */
function refusal(c: Context<AppEnv>, access: MetricsAccess): AppError | undefined {
  if (access.token !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '');
    if (match && timingSafeEqual(digest(match[1]!), digest(access.token))) return undefined;
    return new AppError('unauthorized', 'the metrics need the bearer token METRICS_TOKEN');
  }
  const forwarded = FORWARDING_HEADERS.some((header) => c.req.header(header) !== undefined);
  if (isLoopback(access.socketAddress(c)) && !forwarded) return undefined;
  return new AppError(
    'forbidden',
    'the metrics are served to loopback clients only unless METRICS_TOKEN is set',
  );
}

/** GET /metrics for Prometheus; mounted ahead of API-key authentication (its own token). */
export function metricsRoutes(metrics: ServiceMetrics, access: MetricsAccess) {
  const router = createRouter();
  router.openAPIRegistry.registerComponent('securitySchemes', 'metricsToken', {
    type: 'http',
    scheme: 'bearer',
    description:
      'The operator’s `METRICS_TOKEN` (not an API key). When it is not set, loopback clients are answered without it.',
  });
  return router.openapi(metricsRoute, async (c) => {
    const refused = refusal(c, access);
    if (refused) {
      const { allowed, retryAfterSeconds } = access.limiter.hit(access.clientAddress(c));
      if (!allowed) throw rateLimited(access.limiter.limit, retryAfterSeconds);
      throw refused;
    }
    const { body } = await metrics.render();
    return c.text(body, 200, { 'content-type': EXPOSITION });
  });
}
