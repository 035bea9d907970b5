/**
 * What the metrics cost. A request: a bare Hono app with one parameterised route, answered through
 * `app.request()` (no socket), with the request-metrics middleware or a middleware that does
 * nothing in its place; the difference is
 * what observing a request adds (finding the route pattern, one histogram observation). A scrape:
 * the time to render /metrics of a registry holding every verdict and reason series and 200
 * request series.
 *
 *   taskset -c 1 npx tsx bench/metrics-overhead.ts [requests per round, default 200000]
 */
import { Hono } from 'hono';
import { requestMetrics } from '../src/metrics/request-metrics';
import { ServiceMetrics } from '../src/metrics/service-metrics';
import type { AppEnv } from '../src/http/env';

const N = Number(process.argv[2] ?? 200_000);

function appWith(metrics: ServiceMetrics | undefined) {
  const app = new Hono<AppEnv>();
  // The baseline has a middleware too: the service always has several, and Hono answers a route
  // without any middleware on a faster path that would be counted against the metrics.
  app.use('*', metrics ? requestMetrics(metrics) : (_c, next) => next());
  app.get('/v1/marks/:serial', (c) => c.json({ serial: c.req.param('serial') }));
  return app;
}

async function perRequestMicros(app: Hono<AppEnv>): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < N; i++) {
    const res = await app.request(`/v1/marks/${10_000_000_000_000 + i}`);
    await res.arrayBuffer();
  }
  return ((performance.now() - started) * 1000) / N;
}

async function main() {
  const plain = appWith(undefined);
  const metrics = new ServiceMetrics();
  const observed = appWith(metrics);
  // Warm up both, then alternate rounds so that drift of a shared machine hits both alike.
  await perRequestMicros(plain);
  await perRequestMicros(observed);
  const rounds = { plain: [] as number[], observed: [] as number[] };
  for (let round = 0; round < 7; round++) {
    rounds.plain.push(await perRequestMicros(plain));
    rounds.observed.push(await perRequestMicros(observed));
  }
  const best = (xs: number[]) => Math.min(...xs);
  process.stdout.write(
    `request without metrics  ${best(rounds.plain).toFixed(2)} µs (best of 7 alternating rounds of ${N})\n` +
      `request with metrics     ${best(rounds.observed).toFixed(2)} µs\n` +
      `metrics per request      ${(best(rounds.observed) - best(rounds.plain)).toFixed(2)} µs\n`,
  );

  for (let i = 0; i < 200; i++) metrics.observeRequest('GET', `/route/${i}`, 200, 0.001);
  const scrapes = 200;
  const started = performance.now();
  let bytes = 0;
  for (let i = 0; i < scrapes; i++) bytes = (await metrics.render()).body.length;
  process.stdout.write(
    `scrape render            ${((performance.now() - started) / scrapes).toFixed(2)} ms (${bytes} bytes)\n`,
  );
}

void main();
