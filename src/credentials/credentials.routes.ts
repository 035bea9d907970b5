import { z } from '@hono/zod-openapi';
import { createRouter, defineRoute, publicAccess } from '../http/openapi';
import { certmarkContext, CONTEXT_PATH } from './context';

const context = defineRoute({
  method: 'get',
  path: CONTEXT_PATH,
  operationId: 'getJsonLdContext',
  tags: ['Credentials'],
  summary: 'certmark’s JSON-LD context, version 1 (public): every term its credentials use',
  description:
    'Listed after the VC 2.0 context in every certificate credential. `@protected`; a published version never changes.',
  security: publicAccess,
  responses: {
    200: {
      description: 'The context (JSON-LD 1.1)',
      content: {
        'application/ld+json': {
          schema: z.object({ '@context': z.record(z.string(), z.unknown()) }),
        },
      },
    },
  },
});

/** The documents credentials refer to: the JSON-LD context. */
export function credentialsRoutes(baseUrl: string) {
  const document = certmarkContext(baseUrl);
  return createRouter().openapi(context, (c) =>
    c.json(document, 200, {
      'content-type': 'application/ld+json',
      // A version never changes: caches may keep it for a day (a new version is a new URL).
      'cache-control': 'public, max-age=86400',
    }),
  );
}
