import { z } from '@hono/zod-openapi';
import { requireRole, principalOf } from '../auth/auth.middleware';
import { actorOf } from '../auth/principal';
import { forbidden } from '../errors';
import {
  bearerSecurity,
  countryCode,
  createRouter,
  defineRoute,
  idParam,
  json,
  problems,
  publicAccess,
  SignatorySchema,
} from '../http/openapi';
import { schemes } from '../shared/schemes';
import type { IssuersService } from './issuers.service';

const KeySchema = z
  .object({
    kid: z.string(),
    publicKey: z
      .object({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), x: z.string(), kid: z.string() })
      .openapi({ description: 'The public key as an RFC 8037 JWK' }),
    status: z.enum(['current', 'retired', 'compromised']),
    createdAt: z.string(),
    retiredAt: z.string().nullable(),
    compromisedAt: z.string().nullable(),
  })
  .openapi('IssuerKey');

const IssuerSchema = z
  .object({
    id: z.string().uuid(),
    name: z.string(),
    kind: z.enum(['certification_body', 'exemption_authority']),
    schemes: z.array(z.string()),
    accreditationNo: z.string().nullable(),
    country: z.string(),
    status: z.enum(['active', 'suspended']),
    statusReason: z.string().nullable(),
    statusChangedAt: z.string().nullable(),
    createdAt: z.string(),
    keys: z.array(KeySchema),
  })
  .openapi('Issuer');

const CreateIssuerBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    kind: z.enum(['certification_body', 'exemption_authority']),
    schemes: z.array(z.enum(schemes)).min(1).max(schemes.length),
    accreditationNo: z.string().trim().min(1).max(64).optional(),
    country: countryCode.optional(),
  })
  .strict()
  .openapi('CreateIssuer');

const createIssuer = defineRoute({
  operationId: 'createIssuer',
  method: 'post',
  path: '/v1/issuers',
  tags: ['Issuers and keys'],
  summary: 'Create an issuer (admin) with its first signing key',
  security: bearerSecurity,
  middleware: [requireRole('admin')],
  request: { body: { ...json(CreateIssuerBody), required: true } },
  responses: { 201: { description: 'Created', ...json(IssuerSchema) } },
});

const listIssuers = defineRoute({
  operationId: 'listIssuers',
  method: 'get',
  path: '/v1/issuers',
  security: publicAccess,
  tags: ['Issuers and keys'],
  summary: 'List issuers (public)',
  responses: {
    200: { description: 'Issuers', ...json(z.object({ items: z.array(IssuerSchema) })) },
  },
});

const getIssuer = defineRoute({
  operationId: 'getIssuer',
  method: 'get',
  path: '/v1/issuers/{id}',
  security: publicAccess,
  tags: ['Issuers and keys'],
  summary: 'One issuer (public)',
  request: { params: idParam },
  responses: { 200: { description: 'The issuer', ...json(IssuerSchema) }, ...problems(404) },
});

const setIssuerStatus = defineRoute({
  operationId: 'changeIssuerStatus',
  method: 'post',
  path: '/v1/issuers/{id}/status',
  tags: ['Issuers and keys'],
  summary: 'Suspend or reinstate an issuer (admin, supervisor)',
  description:
    '`signatory` names who decided the change and answers for it; it is recorded with the change in the audit log.',
  security: bearerSecurity,
  middleware: [requireRole('admin', 'supervisor')],
  request: {
    params: idParam,
    body: {
      ...json(
        z
          .object({
            status: z.enum(['active', 'suspended']),
            reason: z.string().trim().min(1).max(2000).optional(),
            signatory: SignatorySchema.optional(),
          })
          .strict(),
      ),
      required: true,
    },
  },
  responses: {
    200: {
      description: 'Updated (or already so: nothing changes, no event, no audit entry)',
      ...json(IssuerSchema),
    },
    ...problems(404),
  },
});

const rotateKey = defineRoute({
  operationId: 'rotateIssuerKey',
  method: 'post',
  path: '/v1/issuers/{id}/keys/rotate',
  tags: ['Issuers and keys'],
  summary: 'Rotate the signing key (admin, owning issuer)',
  security: bearerSecurity,
  middleware: [requireRole('admin', 'issuer')],
  request: { params: idParam },
  responses: {
    201: { description: 'The new key', ...json(KeySchema) },
    ...problems(404, { 403: 'Another issuer’s key, or a role that may not rotate (`forbidden`)' }),
  },
});

const compromiseKey = defineRoute({
  operationId: 'compromiseIssuerKey',
  method: 'post',
  path: '/v1/issuers/{id}/keys/{kid}/compromise',
  tags: ['Issuers and keys'],
  summary: 'Mark a key compromised (admin): it leaves the JWKS; a `reason`, if given, is audited',
  security: bearerSecurity,
  middleware: [requireRole('admin')],
  request: {
    params: z.object({
      id: z.string().uuid(),
      kid: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be an RFC 7638 thumbprint'),
    }),
    body: {
      ...json(
        z
          .object({
            reason: z.string().trim().min(1).max(500).optional().openapi({
              description: 'Why the key is declared compromised, kept in the audit log',
            }),
          })
          .strict()
          .openapi('CompromiseKey'),
      ),
      // The declaration itself needs no body; a reason is welcome.
      required: false,
    },
  },
  responses: {
    200: { description: 'The key', ...json(KeySchema) },
    ...problems(404, { 409: 'The key is already marked compromised (`key_already_compromised`)' }),
  },
});

export function issuersRoutes(service: IssuersService) {
  return createRouter()
    .openapi(createIssuer, async (c) => {
      const issuer = await service.createIssuer(actorOf(principalOf(c)), c.req.valid('json'));
      return c.json(issuer, 201);
    })
    .openapi(listIssuers, async (c) => c.json({ items: await service.listIssuers() }, 200))
    .openapi(getIssuer, async (c) => c.json(await service.getIssuer(c.req.valid('param').id), 200))
    .openapi(setIssuerStatus, async (c) => {
      const { status, reason, signatory } = c.req.valid('json');
      const issuer = await service.setStatus(
        actorOf(principalOf(c)),
        c.req.valid('param').id,
        status,
        reason ?? null,
        signatory ?? null,
      );
      return c.json(issuer, 200);
    })
    .openapi(rotateKey, async (c) => {
      const principal = principalOf(c);
      const { id } = c.req.valid('param');
      if (principal.role === 'issuer' && principal.issuerId !== id) {
        throw forbidden('an issuer key may rotate only its own issuer’s key');
      }
      return c.json(await service.rotateKey(actorOf(principal), id), 201);
    })
    .openapi(compromiseKey, async (c) => {
      const { id, kid } = c.req.valid('param');
      const { reason } = c.req.valid('json');
      return c.json(
        await service.compromiseKey(actorOf(principalOf(c)), id, kid, reason ?? null),
        200,
      );
    });
}
