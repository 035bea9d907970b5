import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import { matchedRoutes } from 'hono/route';
import type { AppEnv } from '../http/env';
import type { ServiceMetrics } from './service-metrics';

/** The route label of a request no route answers (404, 405): one series, whatever the path. */
export const UNMATCHED_ROUTE = '(unmatched)';

/**
 * The pattern of the route that answered (`/v1/marks/:serial`), never the request's path: paths
 * carry ids, serials and mark codes (a secret of the label), and one series per path would grow
 * without bound. A request refused by middleware before its route ran (401, 429) still counts
 * under the route it was for.
 */
function routePatternOf(c: Context<AppEnv>): string {
  const routes = matchedRoutes(c);
  const answered = routes[c.req.routeIndex];
  if (answered && answered.method !== 'ALL') return answered.path;
  return routes.find((route) => route.method !== 'ALL')?.path ?? UNMATCHED_ROUTE;
}

/**
 * Observes an answered request: its route, status and time since `started` (performance.now), the
 * time until its answer is ready (a streamed body's transfer is not included). The service calls
 * it from its request frame (../http/middleware).
 */
export function observeRequest(metrics: ServiceMetrics, c: Context<AppEnv>, started: number) {
  metrics.observeRequest(
    c.req.method,
    routePatternOf(c),
    c.res.status,
    (performance.now() - started) / 1000,
  );
}

/**
 * {@link observeRequest} as a middleware of its own, for an app without the service's frame.
 *
 * @example app.use('*', requestMetrics(metrics))
 */
export function requestMetrics(metrics: ServiceMetrics) {
  return createMiddleware<AppEnv>(async function observeRequests(c, next) {
    const started = performance.now();
    await next();
    observeRequest(metrics, c, started);
  });
}
