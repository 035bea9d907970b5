import { z } from '@hono/zod-openapi';
import {
  exemptionPurposeOf,
  exemptionPurposes,
  exemptionPurposeWords,
  schemes,
} from '../shared/schemes';
import { usccProblem } from '../shared/identifiers';
import { countryCode, isoDate, SignatorySchema, textField as text } from '../http/openapi';

export const PartySchema = z
  .object({
    name: text(300),
    uscc: z.string().optional(),
    country: countryCode.default('CN'),
    address: text(500).optional(),
  })
  .strict()
  .superRefine((party, ctx) => {
    // SPEC: uscc is required when country is CN (the default); both check characters are enforced.
    if (party.country === 'CN' && party.uscc === undefined) {
      ctx.addIssue({ code: 'custom', path: ['uscc'], message: 'required when country is CN' });
    }
    if (party.uscc !== undefined) {
      const problem = usccProblem(party.uscc);
      if (problem)
        ctx.addIssue({ code: 'custom', path: ['uscc'], message: `not a valid USCC: ${problem}` });
    }
  })
  .openapi('Party');

const modelPattern = z
  .string()
  .trim()
  .min(1)
  .max(100)
  // `*` alone is the empty prefix: every model (a management system's certificate covers them all).
  .regex(
    /^\*$|^[^*\s][^*]*\*?$/,
    'a model, optionally ending in * (prefix match); * only at the end',
  );

/** Schemes whose products are identified by model: each scope item names its models. */
const schemesByModel: readonly string[] = ['CCC', 'CCC_EXEMPTION'];

export const ScopeItemSchema = z
  .object({
    product: text(300),
    // Required for CCC and CCC_EXEMPTION (IssueCertificateBody); a management system's, a
    // service's or a farm's scope need name none, and then covers every model of its product.
    models: z.array(modelPattern).min(1).max(1000).optional(),
    hsCode: z
      .string()
      .regex(/^\d{6,10}$/, 'must be a 6–10 digit HS code')
      .optional(),
  })
  .strict()
  .openapi('ScopeItem');

export { SignatorySchema };

/** An exemption's purpose: its code, or the SPEC's words for it, stored as the code. */
const exemptionPurpose = z
  .string()
  .max(100)
  .transform((text, ctx) => {
    const code = exemptionPurposeOf(text);
    if (code) return code;
    ctx.addIssue({
      code: 'custom',
      message: `must be one of ${exemptionPurposes.join(', ')} (or: ${Object.values(exemptionPurposeWords).join(', ')})`,
    });
    return z.NEVER;
  })
  .openapi({
    type: 'string',
    description: `A code (${exemptionPurposes.join(', ')}) or the SPEC's words (${Object.values(exemptionPurposeWords).join(', ')}); answered as the code`,
    example: 'display_only',
  });

export const IssueCertificateBody = z
  .object({
    number: z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9][A-Za-z0-9\-/_.]{0,63}$/, 'letters, digits and - / _ . only, at most 64'),
    scheme: z.enum(schemes),
    holder: PartySchema,
    manufacturer: PartySchema.optional(),
    factories: z.array(PartySchema).max(100).default([]),
    scope: z.array(ScopeItemSchema).min(1).max(500),
    standards: z.array(text(200)).max(200).default([]),
    validFrom: isoDate,
    validUntil: isoDate,
    quantity: z.number().int().min(1).max(1_000_000_000).optional(),
    purpose: exemptionPurpose.optional(),
    signatory: SignatorySchema,
  })
  .strict()
  .superRefine((body, ctx) => {
    if (body.validFrom >= body.validUntil) {
      ctx.addIssue({ code: 'custom', path: ['validUntil'], message: 'must be after validFrom' });
    }
    if (schemesByModel.includes(body.scheme)) {
      body.scope.forEach((item, i) => {
        if (item.models === undefined)
          ctx.addIssue({
            code: 'custom',
            path: ['scope', i, 'models'],
            message: `required for ${body.scheme}: its products are identified by model`,
          });
      });
    }
    // SPEC: quantity and purpose are required for CCC_EXEMPTION and refused elsewhere.
    if (body.scheme === 'CCC_EXEMPTION') {
      if (body.quantity === undefined)
        ctx.addIssue({ code: 'custom', path: ['quantity'], message: 'required for CCC_EXEMPTION' });
      if (body.purpose === undefined)
        ctx.addIssue({ code: 'custom', path: ['purpose'], message: 'required for CCC_EXEMPTION' });
    } else {
      if (body.quantity !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['quantity'],
          message: 'only CCC_EXEMPTION certificates have a quantity',
        });
      if (body.purpose !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['purpose'],
          message: 'only CCC_EXEMPTION certificates have a purpose',
        });
    }
  })
  .openapi('IssueCertificate');

export type IssueCertificateInput = z.infer<typeof IssueCertificateBody>;

export const effectiveStatuses = [
  'valid',
  'expired',
  'not_yet_valid',
  'suspended',
  'revoked',
  'withdrawn',
] as const;
export type EffectiveStatus = (typeof effectiveStatuses)[number];

export const CertificateViewSchema = z
  .object({
    id: z.string().uuid(),
    number: z.string(),
    scheme: z.string(),
    status: z.enum(effectiveStatuses),
    holder: PartySchema,
    manufacturer: z.union([PartySchema, z.null()]),
    factories: z.array(PartySchema),
    scope: z.array(ScopeItemSchema),
    standards: z.array(z.string()),
    issuer: z.object({
      id: z.string().uuid(),
      name: z.string(),
      accreditationNo: z.string().nullable(),
      status: z.string(),
    }),
    signatory: SignatorySchema,
    validFrom: z.string(),
    validUntil: z.string(),
    statusReason: z.string().nullable(),
    statusChangedAt: z.string().nullable(),
    issuedAt: z.string(),
    quantity: z.number().int().optional(),
    remaining: z.number().int().optional(),
    purpose: z.string().optional(),
  })
  .openapi('Certificate');

export const ChangeStatusBody = z
  .object({
    status: z.enum(['valid', 'suspended', 'revoked', 'withdrawn']),
    reason: text(2000),
    signatory: SignatorySchema,
  })
  .strict()
  .openapi('ChangeCertificateStatus');
