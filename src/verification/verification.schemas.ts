import { z } from '@hono/zod-openapi';
import { CertificateViewSchema } from '../certificates/certificates.schemas';
import { isoDateOrInstant, locationSchema, usccField } from '../http/openapi';
import { reasonClasses } from './verdict';

/**
 * The request and answer schemas of verification: POST /v1/verify/certificate and
 * POST /v1/verify/mark, and the verdict and reasons other features' answers (customs, scan logs)
 * share.
 */

export const ReasonSchema = z
  .object({
    code: z.enum(Object.keys(reasonClasses) as [keyof typeof reasonClasses]),
    message: z.string(),
  })
  .openapi('Reason');
export const VerdictSchema = z
  .enum(['authentic', 'forged', 'misused', 'invalid', 'suspicious'])
  .openapi('Verdict');

/** Who presents a certificate or a product: must be its holder, manufacturer or a factory. */
const presenterSchema = z
  .object({
    uscc: usccField.openapi({
      description:
        'The presenter’s Unified Social Credit Code, both check characters enforced (400 otherwise): the holder’s, the manufacturer’s or a factory’s, else HOLDER_MISMATCH.',
    }),
  })
  .strict();

export const VerifyCertificateBody = z
  .object({
    credential: z.string().min(1).max(1_000_000).optional(),
    number: z.string().trim().min(1).max(64).optional(),
    issuerId: z.string().uuid().optional(),
    presenter: presenterSchema.optional(),
    product: z
      .object({ model: z.string().trim().min(1).max(100) })
      .strict()
      .optional(),
    at: isoDateOrInstant
      .optional()
      .openapi({ description: 'A day (YYYY-MM-DD) or an instant: was it valid then?' }),
  })
  .strict()
  .refine((b) => b.credential !== undefined || b.number !== undefined, {
    message: 'give a credential or a certificate number',
    path: ['credential'],
  })
  .openapi('VerifyCertificate');

export const CertificateVerificationSchema = z
  .object({
    verdict: VerdictSchema,
    reasons: z.array(ReasonSchema),
    certificate: CertificateViewSchema.optional(),
    checkedAt: z.string(),
    at: z.string().optional(),
  })
  .openapi('CertificateVerification');

export const VerifyMarkBody = z
  .object({
    code: z.string().min(1).max(4096).openapi({
      description:
        'The mark URL (any letter case), its code, or the 16-digit serial from the label',
    }),
    location: locationSchema.optional(),
    product: z
      .object({ model: z.string().trim().min(1).max(100) })
      .strict()
      .optional(),
    presenter: presenterSchema.optional(),
  })
  .strict()
  .openapi('VerifyMark');

export const MarkVerificationSchema = z
  .object({
    verdict: VerdictSchema,
    reasons: z.array(ReasonSchema),
    certificate: CertificateViewSchema.optional(),
    mark: z
      .object({
        serial: z.string(),
        status: z.enum(['active', 'void']),
        scanCount: z.number().int(),
        firstScan: z.object({ at: z.string(), region: z.string().nullable() }).nullable(),
        model: z.string().optional(),
        lot: z.string().optional(),
      })
      .optional(),
    checkedAt: z.string(),
  })
  .openapi('MarkVerification');
