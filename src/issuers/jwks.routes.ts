import { readConsistencyOf } from '../http/env';
import { z } from '@hono/zod-openapi';
import { createRouter, defineRoute, idParam, json, problems, publicAccess } from '../http/openapi';
import { issuerMetadataRoutePath } from './issuer-url';
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
      .openapi({ description: 'The issuer’s id (or "certmark" for the transparency log’s key)' }),
    issuerName: z.string(),
    purpose: z.enum(['issuer', 'transparency-log']).openapi({
      description:
        '`issuer`: signs an issuer’s credentials, status lists and marks; `transparency-log`: the platform key, which signs the audit log’s checkpoints and the offline bundles, never a credential or a mark',
    }),
    status: z.enum(['current', 'retired']),
  })
  .openapi('PublishedKey');

const JwksSchema = z.object({ keys: z.array(JwkSchema) }).openapi('JwkSet');

const jwks = defineRoute({
  operationId: 'getJwks',
  method: 'get',
  path: '/.well-known/jwks.json',
  security: publicAccess,
  tags: ['Issuers and keys'],
  summary:
    'Every issuer’s current and retired public keys, and the transparency log’s key (never a compromised key)',
  description:
    'The transparency log’s key is the one with `purpose: "transparency-log"` (and `issuer: "certmark"`); every other key is an issuer’s (`purpose: "issuer"`, `issuer` its id). An issuer’s own keys alone: `GET /v1/issuers/{id}/jwks.json`.',
  responses: {
    200: { description: 'JWK Set (RFC 7517)', ...json(JwksSchema) },
  },
});

const issuerJwks = defineRoute({
  operationId: 'getIssuerJwks',
  method: 'get',
  path: '/v1/issuers/{id}/jwks.json',
  security: publicAccess,
  tags: ['Issuers and keys'],
  summary: 'One issuer’s current and retired public keys, and no one else’s (public)',
  request: { params: idParam },
  responses: {
    200: { description: 'JWK Set (RFC 7517)', ...json(JwksSchema) },
    ...problems(404),
  },
});

const IssuerMetadataSchema = z
  .object({
    issuer: z.string().openapi({
      description: 'Identical to the `iss` (and `issuer.id`) of what the issuer signs',
    }),
    jwks: JwksSchema,
  })
  .openapi('JwtVcIssuerMetadata');

const issuerMetadataRoute = (baseUrl: string) =>
  defineRoute({
    operationId: 'getJwtVcIssuerMetadata',
    method: 'get',
    path: issuerMetadataRoutePath(baseUrl),
    security: publicAccess,
    tags: ['Issuers and keys'],
    summary: 'JWT VC Issuer Metadata of one issuer, with its keys (public)',
    description:
      'SD-JWT VC “JWT VC Issuer Metadata”: at the URL formed by inserting `/.well-known/jwt-vc-issuer` between the host and the path of a credential’s `iss` (`{PUBLIC_BASE_URL}/v1/issuers/{id}`). `issuer` is that `iss`; `jwks` holds the issuer’s current and retired keys.',
    request: { params: idParam },
    responses: {
      200: { description: 'The issuer’s metadata', ...json(IssuerMetadataSchema) },
      ...problems(404),
    },
  });

/**
 * Keys are public and change rarely. A verifier in a browser (a wallet) may read them: the request
 * frame shares every answer of the public API across origins (src/http/cors.ts).
 */
const keyHeaders = { 'cache-control': 'public, max-age=60' } as const;

/**
 * Where verifiers find keys: the global JWKS (SPEC), an issuer's own JWKS, and its JWT VC Issuer
 * Metadata derived from `iss`.
 */
export function jwksRoutes(issuers: IssuersService, platformKey: PublicJwk, baseUrl: string) {
  return createRouter()
    .openapi(jwks, async (c) => {
      return c.json(await issuers.jwks([platformKey], readConsistencyOf(c)), 200, keyHeaders);
    })
    .openapi(issuerJwks, async (c) => {
      return c.json(
        await issuers.issuerJwks(c.req.valid('param').id, readConsistencyOf(c)),
        200,
        keyHeaders,
      );
    })
    .openapi(issuerMetadataRoute(baseUrl), async (c) => {
      const metadata = await issuers.issuerMetadata(
        c.req.valid('param').id,
        baseUrl,
        readConsistencyOf(c),
      );
      return c.json(metadata, 200, keyHeaders);
    });
}
