import { z } from '@hono/zod-openapi';
import { AppError } from '../errors';
import { createRouter, defineRoute, json, publicAccess } from './openapi';

const health = defineRoute({
  operationId: 'getHealth',
  method: 'get',
  path: '/healthz',
  security: publicAccess,
  tags: ['Service'],
  summary: 'The process is up',
  responses: { 200: { description: 'Up', ...json(z.object({ status: z.literal('ok') })) } },
});

const ready = defineRoute({
  operationId: 'getReadiness',
  method: 'get',
  path: '/readyz',
  security: publicAccess,
  tags: ['Service'],
  summary: 'The database answers',
  responses: {
    200: { description: 'Ready', ...json(z.object({ status: z.literal('ready') })) },
  },
});

/** Liveness and readiness; `ping` throws when the database cannot answer. */
export function healthRoutes(ping: () => Promise<void>) {
  return createRouter()
    .openapi(health, (c) => c.json({ status: 'ok' as const }, 200))
    .openapi(ready, async (c) => {
      try {
        await ping();
      } catch {
        throw new AppError('database_unavailable', 'the database is not reachable', {
          retryAfterSeconds: 5,
        });
      }
      return c.json({ status: 'ready' as const }, 200);
    });
}
