import { z } from '@hono/zod-openapi';
import { createRouter, defineRoute, problems, publicAccess } from '../http/openapi';
import type { OfflineBundleService } from './offline-bundle.service';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** At most this many issuers by name: a longer list is every issuer, asked for without `issuer`. */
const MAX_ISSUERS = 50;

const getOfflineBundle = defineRoute({
  method: 'get',
  path: '/v1/offline-bundle',
  operationId: 'getOfflineBundle',
  tags: ['Credentials'],
  summary: 'Everything an offline verifier needs, signed by the transparency log’s key (public)',
  description:
    'A compact JWS (`typ: certmark-offline-bundle+jwt`, EdDSA) signed by the transparency log’s key (`purpose: transparency-log` in `/.well-known/jwks.json`). Its payload: `jwks` (the keys), `statusLists` (every status list’s `vc+jwt` as `GET /v1/status-lists/{id}` serves it, each signed by its issuer), `voidedMarks` (a digest of each voided mark’s serial with its batch list and position), `suspendedIssuers` (the ids of the issuers suspended when it was made: their marks and credentials verify invalid), `logCheckpoint` (the latest log checkpoint, as the log serves it), `createdAt` and `freshUntil` (past it, offline verifiers answer “status unknown”). `issuer` narrows it to the issuers named (comma-separated ids). `certmark bundle` saves one; `certmark verify --bundle` and `/verify/offline` read it.',
  security: publicAccess,
  request: {
    query: z.object({
      issuer: z
        .string()
        .max(MAX_ISSUERS * 37)
        .refine(
          (value) => value.split(',').every((id) => UUID.test(id.trim())),
          'must be issuer ids (UUIDs), comma-separated',
        )
        .refine((value) => value.split(',').length <= MAX_ISSUERS, `at most ${MAX_ISSUERS} issuers`)
        .optional()
        .openapi({ description: 'Issuer ids, comma-separated: only their keys and lists' }),
    }),
  },
  responses: {
    200: {
      description: 'The signed bundle',
      headers: z.object({ 'cache-control': z.string() }),
      content: { 'application/jose': { schema: z.string() } },
    },
    ...problems(404),
  },
});

export function offlineBundleRoutes(service: OfflineBundleService) {
  return createRouter().openapi(getOfflineBundle, async (c) => {
    const issuer = c.req.valid('query').issuer;
    const ids = issuer?.split(',').map((id) => id.trim().toLowerCase());
    const bundle = await service.bundle(ids);
    return c.body(bundle.jws, 200, {
      'content-type': 'application/jose',
      // Made per request; a shared cache may hand the same copy out for a minute.
      'cache-control': 'public, max-age=60',
    });
  });
}
