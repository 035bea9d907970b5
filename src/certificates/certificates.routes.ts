import { readConsistencyOf } from '../http/env';
import { z } from '@hono/zod-openapi';
import { principalOf, requireRole } from '../auth/auth.middleware';
import {
  bearerSecurity,
  createRouter,
  defineRoute,
  idParam,
  json,
  pageQuery,
  problems,
  publicAccess,
} from '../http/openapi';
import { schemes } from '../shared/schemes';
import { qrPng, qrSvg } from './qr';
import {
  CertificateViewSchema,
  ChangeStatusBody,
  IssueCertificateBody,
} from './certificates.schemas';
import type { CertificatesService } from './certificates.service';

const IssuedCertificateSchema = CertificateViewSchema.extend({
  credential: z.string().openapi({ description: 'The signed credential: a `vc+jwt` compact JWS' }),
  verifyUrl: z.string().url(),
  qr: z.object({ svg: z.string().url(), png: z.string().url() }),
}).openapi('IssuedCertificate');

const issue = defineRoute({
  operationId: 'issueCertificate',
  method: 'post',
  path: '/v1/certificates',
  tags: ['Certificates'],
  summary: 'Issue a certificate (issuer) with its signed credential',
  security: bearerSecurity,
  middleware: [requireRole('issuer')],
  request: { body: { ...json(IssueCertificateBody), required: true } },
  responses: {
    201: { description: 'Issued', ...json(IssuedCertificateSchema) },
    ...problems({
      403: 'Not an issuer key (`forbidden`), a scheme the issuer is not approved for (`scheme_not_approved`), or a suspended issuer (`issuer_suspended`)',
      409: 'This issuer already has a certificate with this number (`duplicate_number`)',
    }),
  },
});

const get = defineRoute({
  operationId: 'getCertificate',
  method: 'get',
  path: '/v1/certificates/{id}',
  security: publicAccess,
  tags: ['Certificates'],
  summary: 'A certificate’s public view (public)',
  request: { params: idParam },
  responses: {
    200: { description: 'The certificate', ...json(IssuedCertificateSchema) },
    ...problems(404),
  },
});

const history = defineRoute({
  operationId: 'getCertificateStatusHistory',
  method: 'get',
  path: '/v1/certificates/{id}/status-history',
  security: publicAccess,
  tags: ['Certificates'],
  summary: 'Every status change of a certificate (public)',
  request: { params: idParam },
  responses: {
    200: {
      description: 'Status history, oldest first',
      ...json(
        z.object({
          items: z.array(
            z.object({
              status: z.string(),
              reason: z.string().nullable(),
              signatory: z.unknown(),
              at: z.string(),
            }),
          ),
        }),
      ),
    },
    ...problems(404),
  },
});

const changeStatus = defineRoute({
  operationId: 'changeCertificateStatus',
  method: 'post',
  path: '/v1/certificates/{id}/status',
  tags: ['Certificates'],
  summary: 'Suspend, reinstate, revoke or withdraw a certificate (owning issuer)',
  security: bearerSecurity,
  middleware: [requireRole('issuer')],
  request: { params: idParam, body: { ...json(ChangeStatusBody), required: true } },
  responses: {
    200: { description: 'Updated', ...json(IssuedCertificateSchema) },
    ...problems(404, {
      403: 'Another issuer’s certificate (`forbidden`), or a reinstatement (`valid`) by a suspended issuer (`issuer_suspended`)',
      409: 'Revoked and withdrawn are final (`status_final`); the status it already has (`status_unchanged`)',
    }),
  },
});

const qr = (format: 'svg' | 'png') =>
  defineRoute({
    operationId: `getCertificateQr${format === 'svg' ? 'Svg' : 'Png'}`,
    method: 'get',
    path: `/v1/certificates/{id}/qr.${format}`,
    security: publicAccess,
    tags: ['Certificates'],
    summary: `The certificate’s QR code (${format.toUpperCase()}) holding its verify URL (public)`,
    request: { params: idParam },
    responses: {
      200: {
        description: 'QR code',
        content: { [format === 'svg' ? 'image/svg+xml' : 'image/png']: { schema: z.string() } },
      },
      ...problems(404),
    },
  });

const search = defineRoute({
  operationId: 'searchRegistry',
  method: 'get',
  path: '/v1/registry/certificates',
  security: publicAccess,
  tags: ['Registry'],
  summary: 'Search the public register of certificates (public, paginated)',
  request: {
    query: z.object({
      number: z.string().trim().min(1).max(64).optional(),
      // Typed by a person: letters in either case (a USCC's are capitals).
      uscc: z
        .string()
        .trim()
        .toUpperCase()
        .regex(/^[0-9A-Z]{18}$/, 'must be 18 digits and letters')
        .optional(),
      holder: z.string().trim().min(1).max(200).optional(),
      // Typed by a person too: `ccc` is CCC.
      scheme: z
        .preprocess(
          (value) => (typeof value === 'string' ? value.toUpperCase() : value),
          z.enum(schemes),
        )
        .optional(),
      issuer: z.string().trim().min(1).max(200).optional().openapi({
        description: 'The issuer’s id, or part of its name, or its accreditation number',
      }),
      ...pageQuery,
    }),
  },
  responses: {
    200: {
      description: 'A page of certificates',
      ...json(
        z.object({
          items: z.array(CertificateViewSchema),
          page: z.number(),
          pageSize: z.number(),
          total: z.number(),
        }),
      ),
    },
  },
});

export function certificatesRoutes(service: CertificatesService) {
  return createRouter()
    .openapi(issue, async (c) =>
      c.json(await service.issueCertificate(principalOf(c), c.req.valid('json')), 201),
    )
    .openapi(get, async (c) =>
      c.json(await service.getCertificate(c.req.valid('param').id, readConsistencyOf(c)), 200),
    )
    .openapi(history, async (c) =>
      c.json(
        { items: await service.statusHistory(c.req.valid('param').id, readConsistencyOf(c)) },
        200,
      ),
    )
    .openapi(changeStatus, async (c) =>
      c.json(
        await service.changeStatus(principalOf(c), c.req.valid('param').id, c.req.valid('json')),
        200,
      ),
    )
    .openapi(qr('svg'), async (c) => {
      const { verifyUrl } = await service.getCertificate(
        c.req.valid('param').id,
        readConsistencyOf(c),
      );
      return c.body(await qrSvg(verifyUrl), 200, {
        'content-type': 'image/svg+xml',
        'cache-control': 'public, max-age=3600',
      });
    })
    .openapi(qr('png'), async (c) => {
      const { verifyUrl } = await service.getCertificate(
        c.req.valid('param').id,
        readConsistencyOf(c),
      );
      return c.body(new Uint8Array(await qrPng(verifyUrl)), 200, {
        'content-type': 'image/png',
        'cache-control': 'public, max-age=3600',
      });
    })
    .openapi(search, async (c) =>
      c.json(await service.searchRegistry(c.req.valid('query'), readConsistencyOf(c)), 200),
    );
}
