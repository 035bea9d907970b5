import { z } from '@hono/zod-openapi';
import { AppError } from '../errors';
import { createRouter, defineRoute, json, publicAccess } from './openapi';
import type { WitnessLag } from '../audit/witnessing';

const health = defineRoute({
  operationId: 'getHealth',
  method: 'get',
  path: '/healthz',
  security: publicAccess,
  tags: ['Service'],
  summary: 'The process is up',
  responses: {
    200: {
      description:
        'Up: `ok`, or `starting` while the process waits for its database (every other request then answers 503 `service_starting`)',
      ...json(z.object({ status: z.enum(['ok', 'starting']) })),
    },
  },
});

const witnessingSchema = z
  .object({
    quorum: z.number().int().openapi({ description: 'WITNESS_QUORUM (0: none required)' }),
    latestSize: z.number().int().openapi({ description: 'Entries in the latest checkpoint' }),
    witnessedSize: z.number().int().openapi({
      description:
        'Entries in the latest checkpoint cosigned by a quorum of witnesses (one witness without a quorum); 0 before the first',
    }),
    entries: z
      .number()
      .int()
      .openapi({ description: 'Witnessed lag in entries: latestSize − witnessedSize' }),
    seconds: z.number().openapi({
      description:
        'Witnessed lag in seconds: how long since the first checkpoint not yet witnessed was signed (0 when none)',
    }),
    witnesses: z.array(
      z.object({
        name: z.string(),
        cosignedSize: z.number().int(),
        consecutiveFailures: z.number().int(),
        lastFailure: z.string().optional().openapi({
          description:
            'unreachable, unknown_origin (404), log_key_not_trusted (403), inconsistent (422), conflicting_root or witness_ahead (409), bad_request (400), bad_cosignature, too_many_resends, unexpected_status',
        }),
      }),
    ),
  })
  .openapi({
    description:
      'With witnesses configured (WITNESSES): how far the witnessed log is behind. A lagging witness does not make the service unready.',
  });

const readsSchema = z
  .object({
    replica: z.enum(['unknown', 'fresh', 'behind', 'down', 'closed']).openapi({
      description:
        'fresh: public reads go to the replica (within the bound); behind, down: to the primary; unknown: not probed yet',
    }),
    stalenessMs: z.number().int().nullable().openapi({
      description:
        'How far behind the primary the replica is known to be at most, in ms (null before it was first found caught up)',
    }),
    maxStalenessMs: z
      .number()
      .int()
      .openapi({ description: 'The bound (DATABASE_READ_MAX_STALENESS_SECONDS)' }),
  })
  .openapi({
    description:
      'With a read replica configured (DATABASE_READ_URL): where public reads go now. A replica behind or down does not make the service unready.',
  });

const ready = defineRoute({
  operationId: 'getReadiness',
  method: 'get',
  path: '/readyz',
  security: publicAccess,
  tags: ['Service'],
  summary: 'The database answers',
  responses: {
    200: {
      description: 'Ready',
      ...json(
        z.object({
          status: z.literal('ready'),
          witnessing: witnessingSchema.optional(),
          reads: readsSchema.optional(),
        }),
      ),
    },
  },
});

export interface ReadinessDetail {
  /** The audit log's witnessed lag (src/audit/witnessing.ts); undefined without witnesses. */
  witnessing?: () => Promise<WitnessLag | undefined>;
  /** Where public reads go (src/db/read-replica.ts); undefined without a replica. */
  reads?: () => ReadsDetail | undefined;
}

export interface ReadsDetail {
  replica: 'unknown' | 'fresh' | 'behind' | 'down' | 'closed';
  stalenessMs: number | null;
  maxStalenessMs: number;
}

/** Liveness and readiness; `ping` throws when the database cannot answer. */
export function healthRoutes(ping: () => Promise<void>, detail: ReadinessDetail = {}) {
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
      const witnessing = await detail.witnessing?.();
      const reads = detail.reads?.();
      return c.json(
        {
          status: 'ready' as const,
          ...(witnessing ? { witnessing } : {}),
          ...(reads ? { reads } : {}),
        },
        200,
      );
    });
}
