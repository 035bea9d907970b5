import { createRoute, z } from '@hono/zod-openapi';
import { createRouter, errorResponses } from '../http/openapi';
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
    number: z
      .string()
      .trim()
      .min(1)
      .max(64)
      .optional()
      .openapi({ description: 'Alias of certificateNumber, as the rest of the API names it' }),
    description: z.string().trim().min(1).max(2000),
    region: z
      .string()
      .refine(isValidRegionCode, 'must be a six-digit GB/T 2260 region code')
      .optional(),
    contact: z.string().trim().min(1).max(200).optional(),
  })
  .strict()
  .transform(({ number, ...report }) => ({
    ...report,
    certificateNumber: report.certificateNumber ?? number,
  }))
  .refine((b) => b.code !== undefined || b.certificateNumber !== undefined, {
    message: 'give the code on the product or the certificate number (or both)',
    path: ['code'],
  })
  .openapi('Report');

const fileReport = createRoute({
  method: 'post',
  path: '/v1/reports',
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
    400: errorResponses[400],
  },
});

export function reportsRoutes(service: ReportsService) {
  return createRouter().openapi(fileReport, async (c) =>
    c.json(await service.fileReport(c.req.valid('json')), 201),
  );
}
