import { createRoute, z } from '@hono/zod-openapi';
import { CertificateViewSchema } from '../certificates/certificates.schemas';
import { createRouter, errorResponses, isoDate, json } from '../http/openapi';
import { reasonClasses } from './verdict';
import type { VerificationService } from './verification.service';

export const ReasonSchema = z
  .object({
    code: z.enum(Object.keys(reasonClasses) as [keyof typeof reasonClasses]),
    message: z.string(),
  })
  .openapi('Reason');
export const VerdictSchema = z
  .enum(['authentic', 'forged', 'misused', 'invalid', 'suspicious'])
  .openapi('Verdict');

const VerifyCertificateBody = z
  .object({
    credential: z.string().min(1).max(1_000_000).optional(),
    number: z.string().trim().min(1).max(64).optional(),
    issuerId: z.string().uuid().optional(),
    presenter: z
      .object({ uscc: z.string().trim().min(1).max(64) })
      .strict()
      .optional(),
    product: z
      .object({ model: z.string().trim().min(1).max(100) })
      .strict()
      .optional(),
    at: z
      .union([isoDate, z.string().datetime({ offset: true })])
      .optional()
      .openapi({ description: 'A day (YYYY-MM-DD) or an instant: was it valid then?' }),
  })
  .strict()
  .refine((b) => b.credential !== undefined || b.number !== undefined, {
    message: 'give a credential or a certificate number',
    path: ['credential'],
  })
  .openapi('VerifyCertificate');

const CertificateVerificationSchema = z
  .object({
    verdict: VerdictSchema,
    reasons: z.array(ReasonSchema),
    certificate: CertificateViewSchema.optional(),
    checkedAt: z.string(),
    at: z.string().optional(),
  })
  .openapi('CertificateVerification');

const verifyCertificate = createRoute({
  method: 'post',
  path: '/v1/verify/certificate',
  tags: ['Verification'],
  summary: 'Verify a credential or a certificate number (public)',
  description:
    'Answers 200 for any well-formed request, whatever the credential holds: the verdict and every finding.',
  request: { body: { ...json(VerifyCertificateBody), required: true } },
  responses: {
    200: { description: 'The verdict', ...json(CertificateVerificationSchema) },
    400: errorResponses[400],
    422: { description: 'The number is held by several issuers: give issuerId' },
  },
});

export function verificationRoutes(service: VerificationService) {
  return createRouter().openapi(verifyCertificate, async (c) =>
    c.json(await service.verifyCertificate(c.req.valid('json')), 200),
  );
}
