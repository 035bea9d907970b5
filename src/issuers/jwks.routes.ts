import { z } from '@hono/zod-openapi';
import { createRouter, defineRoute, json, publicAccess } from '../http/openapi';
import type { IssuersService, PublicJwk } from './issuers.service';

const JwkSchema = z
  .object({
    kty: z.literal('OKP'),
    crv: z.literal('Ed25519'),
    x: z.string(),
    kid: z.string(),
    use: z.literal('sig'),
    alg: z.literal('EdDSA'),
    issuer: z
      .string()
      .openapi({ description: 'The issuer’s id (or "certmark" for the platform key)' }),
    issuerName: z.string(),
    status: z.enum(['current', 'retired']),
  })
  .openapi('PublishedKey');

const jwks = defineRoute({
  operationId: 'getJwks',
  method: 'get',
  path: '/.well-known/jwks.json',
  security: publicAccess,
  tags: ['Issuers and keys'],
  summary:
    'Every issuer’s current and retired public keys, and the platform key (never a compromised key)',
  responses: {
    200: { description: 'JWK Set (RFC 7517)', ...json(z.object({ keys: z.array(JwkSchema) })) },
  },
});

export function jwksRoutes(issuers: IssuersService, platformKey: PublicJwk) {
  return createRouter().openapi(jwks, async (c) => {
    c.header('cache-control', 'public, max-age=60');
    return c.json(await issuers.jwks([platformKey]), 200);
  });
}
