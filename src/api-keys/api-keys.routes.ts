import { z } from '@hono/zod-openapi';
import { principalOf, requireRole } from '../auth/auth.middleware';
import { actorOf } from '../auth/principal';
import { roles } from '../db/schema/api-keys';
import {
  bearerSecurity,
  createRouter,
  defineRoute,
  idParam,
  json,
  problems,
} from '../http/openapi';
import type { ApiKeysService } from './api-keys.service';

const ApiKeySchema = z
  .object({
    id: z.string().uuid(),
    prefix: z.string(),
    role: z.enum(roles),
    issuerId: z.string().uuid().nullable(),
    label: z.string().nullable(),
    createdAt: z.string(),
    revokedAt: z.string().nullable(),
  })
  .openapi('ApiKey');

const adminOnly = { security: bearerSecurity, middleware: [requireRole('admin')] };

const createKey = defineRoute({
  operationId: 'createApiKey',
  method: 'post',
  path: '/v1/api-keys',
  tags: ['API keys'],
  summary: 'Create an API key (admin); the key is shown only in this answer',
  ...adminOnly,
  request: {
    body: {
      ...json(
        z
          .object({
            role: z.enum(roles),
            issuerId: z.string().uuid().optional(),
            label: z.string().trim().min(1).max(200).optional(),
          })
          .strict(),
      ),
      required: true,
    },
  },
  responses: {
    201: { description: 'Created', ...json(ApiKeySchema.extend({ key: z.string() })) },
    ...problems({ 422: 'No such issuer (`unprocessable`)' }),
  },
});

const listKeys = defineRoute({
  operationId: 'listApiKeys',
  method: 'get',
  path: '/v1/api-keys',
  tags: ['API keys'],
  summary: 'List API keys (admin), without their values',
  ...adminOnly,
  responses: {
    200: { description: 'Keys', ...json(z.object({ items: z.array(ApiKeySchema) })) },
  },
});

const revokeKey = defineRoute({
  operationId: 'revokeApiKey',
  method: 'delete',
  path: '/v1/api-keys/{id}',
  tags: ['API keys'],
  summary: 'Revoke an API key (admin)',
  ...adminOnly,
  request: { params: idParam },
  responses: { 200: { description: 'Revoked', ...json(ApiKeySchema) }, ...problems(404) },
});

export function apiKeysRoutes(service: ApiKeysService) {
  return createRouter()
    .openapi(createKey, async (c) =>
      c.json(await service.createKey(actorOf(principalOf(c)), c.req.valid('json')), 201),
    )
    .openapi(listKeys, async (c) => c.json({ items: await service.listKeys() }, 200))
    .openapi(revokeKey, async (c) =>
      c.json(await service.revokeKey(actorOf(principalOf(c)), c.req.valid('param').id), 200),
    );
}
