import { readConsistencyOf } from '../http/env';
import { z } from '@hono/zod-openapi';
import { createRouter, defineRoute, idParam, problems, publicAccess } from '../http/openapi';
import type { StatusListsService } from './status-lists.service';

const getStatusList = defineRoute({
  method: 'get',
  path: '/v1/status-lists/{id}',
  operationId: 'getStatusList',
  tags: ['Credentials'],
  summary: 'A W3C Bitstring Status List, signed by its issuer (public)',
  description:
    'A `BitstringStatusListCredential` secured as `vc+jwt` with the issuer’s current key: a certificate list (revocation or suspension, one bit per certificate at the index its credential names) or a mark batch’s list (one bit per mark by its position in the batch; set: void). `ttl` matches `Cache-Control: max-age`; a status change is in the list as soon as its answer is sent. `If-None-Match` with the current `ETag` answers 304.',
  security: publicAccess,
  request: {
    params: idParam,
    headers: z.object({ 'if-none-match': z.string().max(4096).optional() }),
  },
  responses: {
    200: {
      description: 'The signed list',
      headers: z.object({ etag: z.string(), 'cache-control': z.string() }),
      content: { 'application/vc+jwt': { schema: z.string() } },
    },
    304: { description: 'The copy named by If-None-Match is current' },
    ...problems(404, { 409: 'The list’s issuer has no current signing key (`no_signing_key`)' }),
  },
});

/**
 * RFC 9110 §13.1.2: If-None-Match is a list of entity tags (or `*`), compared weakly. Whether the
 * current tag is among them.
 */
export function ifNoneMatchHits(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  return header.split(',').some((tag) => opaque(tag) === opaque(etag));
}

export function statusListsRoutes(service: StatusListsService) {
  return createRouter().openapi(getStatusList, async (c) => {
    const list = await service.published(c.req.valid('param').id, readConsistencyOf(c));
    const headers = {
      etag: list.etag,
      // A verifier in a browser (a wallet, a web page) reads lists of any issuer: the request
      // frame shares every answer of the public API across origins (src/http/cors.ts).
      'cache-control': `public, max-age=${list.maxAgeSeconds}`,
    };
    if (ifNoneMatchHits(c.req.valid('header')['if-none-match'], list.etag))
      return c.body(null, 304, headers);
    return c.body(list.jwt, 200, { ...headers, 'content-type': 'application/vc+jwt' });
  });
}
