import { z } from '@hono/zod-openapi';
import { createRouter, defineRoute, locationSchema, problems, publicAccess } from '../http/openapi';
import { isValidRegionCode } from '../shared/identifiers';
import type { ReportsService } from './reports.service';

const ReportBody = z
  .object({
    code: z
      .string()
      .trim()
      .min(1)
      .max(4096)
      .optional()
      .openapi({ description: 'The mark URL, code or serial on the product' }),
    certificateNumber: z.string().trim().min(1).max(64).optional(),
    certificateId: z
      .string()
      .uuid()
      .optional()
      .openapi({ description: 'The certificate’s id (as in its page’s link, /c/{id})' }),
    number: z
      .string()
      .trim()
      .min(1)
      .max(64)
      .optional()
      .openapi({ description: 'Alias of certificateNumber, as the rest of the API names it' }),
    issuerId: z
      .string()
      .uuid()
      .optional()
      .openapi({ description: 'The certificate’s issuer, when several issuers use its number' }),
    description: z.string().trim().min(1).max(2000).optional(),
    message: z
      .string()
      .trim()
      .min(1)
      .max(2000)
      .optional()
      .openapi({ description: 'Alias of description' }),
    region: z
      .string()
      .refine(isValidRegionCode, 'must be a six-digit GB/T 2260 region code')
      .optional(),
    location: locationSchema
      .optional()
      .openapi({ description: 'Where, as `POST /v1/verify/mark` takes it' }),
    contact: z.string().trim().min(1).max(200).optional(),
  })
  // The SPEC leaves a report's fields open: a consumer's app may send more than these, and a
  // report must not be lost over a field this service does not keep.
  .strip()
  // An alias and its name that disagree leave nothing to report on: which certificate, which
  // words, which place? Refused rather than one of them dropped.
  .superRefine((b, ctx) => {
    const pairs: [keyof typeof b, keyof typeof b, unknown, unknown][] = [
      ['number', 'certificateNumber', b.number, b.certificateNumber],
      ['message', 'description', b.message, b.description],
      ['region', 'location', b.region, b.location?.region],
    ];
    for (const [alias, name, aliased, named] of pairs) {
      if (aliased !== undefined && named !== undefined && aliased !== named) {
        ctx.addIssue({ code: 'custom', path: [alias], message: `differs from ${name}` });
      }
    }
  })
  .transform(({ number, message, location, region, ...report }) => ({
    ...report,
    certificateNumber: report.certificateNumber ?? number,
    description: report.description ?? message,
    region: region ?? location?.region,
    ...(location?.lat !== undefined && location.lon !== undefined
      ? { point: { lat: location.lat, lon: location.lon } }
      : {}),
  }))
  .refine(
    (b) =>
      b.code !== undefined ||
      b.certificateNumber !== undefined ||
      b.certificateId !== undefined ||
      b.description !== undefined,
    {
      message:
        'say what you report: the code on the product, the certificate’s number or id, or a description',
      path: ['code'],
    },
  )
  .openapi('Report');

const fileReport = defineRoute({
  operationId: 'fileReport',
  method: 'post',
  path: '/v1/reports',
  security: publicAccess,
  tags: ['Supervision'],
  summary:
    'Report a suspicious product or certificate (public); it becomes an alert for supervisors',
  request: { body: { content: { 'application/json': { schema: ReportBody } }, required: true } },
  responses: {
    201: {
      description: 'Filed',
      content: {
        'application/json': {
          schema: z.object({ id: z.string().uuid(), alertId: z.string().uuid() }),
        },
      },
    },
    ...problems({
      422: 'The number is held by several issuers: give issuerId (`ambiguous_number`, with `issuers`)',
    }),
  },
});

export function reportsRoutes(service: ReportsService) {
  return createRouter().openapi(fileReport, async (c) =>
    c.json(await service.fileReport(c.req.valid('json')), 201),
  );
}
