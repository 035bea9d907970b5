import { z } from '@hono/zod-openapi';
import { principalOf, requireRole } from '../auth/auth.middleware';
import { CertificateViewSchema } from '../certificates/certificates.schemas';
import { consumptionStatuses } from '../db/schema/customs-consumptions';
import {
  bearerSecurity,
  createRouter,
  defineRoute,
  idParam,
  json,
  pageQuery,
  problems,
  usccField,
} from '../http/openapi';
import { isValidDeclarationNo } from '../shared/identifiers';
import { ReasonSchema, VerdictSchema } from '../verification/verification.schemas';
import { reasonClasses } from '../verification/verdict';
import type { CustomsService } from './customs.service';

/** A short free text: trimmed, bounded, no control characters. */
const shortText = (max: number) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    // eslint-disable-next-line no-control-regex
    .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters');

const ConsumeExemptionBody = z
  .object({
    number: shortText(64).openapi({ description: 'The exemption certificate’s number' }),
    issuerId: z
      .string()
      .uuid()
      .optional()
      .openapi({ description: 'Needed when several issuers use the number' }),
    declarationNo: z
      .string()
      .refine(isValidDeclarationNo, 'must be a customs declaration number: 18 digits')
      .openapi({
        description: '报关单号 (18 digits); one decision per declaration',
        example: '223320260001234567',
      }),
    quantity: z
      .number()
      .int()
      .min(1)
      .max(1_000_000_000)
      .openapi({ description: 'Units this declaration imports' }),
    importerUscc: usccField.openapi({
      description: 'The importer’s Unified Social Credit Code; must be the exemption’s holder',
    }),
    port: shortText(64).optional().openapi({ description: 'Port or customs district of entry' }),
    model: shortText(100)
      .optional()
      .openapi({ description: 'Product model imported; must be in scope' }),
  })
  .strict()
  .openapi('ConsumeExemption');

const ConsumptionSchema = z
  .object({
    consumed: z.boolean(),
    quantity: z.number().int(),
    remaining: z
      .number()
      .int()
      .nullable()
      .openapi({ description: 'Remaining after this decision; null if no exemption' }),
    replayed: z
      .boolean()
      .openapi({ description: 'True when this repeats the stored decision on the declaration' }),
  })
  .openapi('CustomsConsumption');

const ExemptionConsumptionSchema = z
  .object({
    verdict: VerdictSchema,
    reasons: z.array(ReasonSchema),
    certificate: CertificateViewSchema.optional(),
    checkedAt: z.string(),
    consumption: ConsumptionSchema,
  })
  .openapi('ExemptionConsumption');

const ConsumptionEntrySchema = z
  .object({
    id: z.number().int(),
    declarationNo: z.string(),
    status: z.enum(consumptionStatuses),
    quantity: z.number().int(),
    remainingAfter: z.number().int(),
    importerUscc: z.string(),
    port: z.string().nullable(),
    model: z.string().nullable(),
    reasons: z.array(z.object({ code: z.string(), message: z.string() })),
    apiKeyId: z
      .string()
      .nullable()
      .openapi({ description: 'The customs API key that made the declaration' }),
    at: z.string(),
  })
  .openapi('ExemptionConsumptionEntry');

const consume = defineRoute({
  operationId: 'consumeExemption',
  method: 'post',
  path: '/v1/customs/exemptions/consume',
  tags: ['Customs'],
  summary: 'Check a CCC exemption for a declaration and deduct its quantity (customs)',
  description:
    'Answers the verification verdict plus `consumption`. Deducts only when the verdict is `authentic`: the importer is the holder, the model in scope, the quantity within what remains, the exemption valid now. Every declaration is decided once: repeating it answers the same (`replayed: true`); reusing its number with other content is 409.',
  security: bearerSecurity,
  middleware: [requireRole('customs')],
  request: { body: { ...json(ConsumeExemptionBody), required: true } },
  responses: {
    200: { description: 'The decision', ...json(ExemptionConsumptionSchema) },
    ...problems({
      409: 'The declaration number was already decided with other content (`declaration_conflict`), or concurrent deductions kept changing the exemption: send it again (`exemption_contended`)',
      422: 'Not a CCC exemption (`not_an_exemption`), or a number held by several issuers without issuerId (`ambiguous_number`)',
    }),
  },
});

const ledger = defineRoute({
  operationId: 'listExemptionConsumptions',
  method: 'get',
  path: '/v1/customs/exemptions/{id}/consumptions',
  tags: ['Customs'],
  summary: 'The quantity ledger of a CCC exemption (customs, supervisor, owning issuer; paginated)',
  description:
    'Newest first. `status=consumed` (default) lists deductions; `refused` lists refused attempts (over-quantity, wrong importer, out of scope, invalid exemption); `all` both.',
  security: bearerSecurity,
  middleware: [requireRole('customs', 'supervisor', 'issuer')],
  request: {
    params: idParam,
    query: z.object({
      status: z.enum([...consumptionStatuses, 'all']).default('consumed'),
      ...pageQuery,
    }),
  },
  responses: {
    200: {
      description: 'A page of the ledger',
      ...json(
        z.object({
          exemption: z.object({
            id: z.string().uuid(),
            number: z.string(),
            quantity: z.number().int(),
            remaining: z.number().int(),
          }),
          items: z.array(ConsumptionEntrySchema),
          page: z.number().int(),
          pageSize: z.number().int(),
          total: z.number().int(),
        }),
      ),
    },
    ...problems(404, {
      403: 'Another issuer’s exemption (`forbidden`)',
      422: 'The certificate is not a CCC exemption (`not_an_exemption`)',
    }),
  },
});

const refusals = defineRoute({
  operationId: 'listCustomsRefusals',
  method: 'get',
  path: '/v1/customs/refusals',
  tags: ['Customs'],
  summary: 'Refused declarations across all exemptions (supervisor, customs; paginated)',
  description:
    'Newest first: over-quantity attempts (`reason=QUANTITY_EXHAUSTED`), declarations by someone other than the holder, out-of-scope models, invalid exemptions.',
  security: bearerSecurity,
  middleware: [requireRole('supervisor', 'customs')],
  request: {
    query: z.object({
      reason: z.enum(Object.keys(reasonClasses) as [keyof typeof reasonClasses]).optional(),
      issuer: z.string().uuid().optional(),
      ...pageQuery,
    }),
  },
  responses: {
    200: {
      description: 'A page of refused declarations',
      ...json(
        z.object({
          items: z.array(
            ConsumptionEntrySchema.extend({
              exemption: z.object({
                id: z.string().uuid(),
                number: z.string(),
                issuerId: z.string().uuid(),
              }),
            }),
          ),
          page: z.number().int(),
          pageSize: z.number().int(),
          total: z.number().int(),
        }),
      ),
    },
  },
});

export function customsRoutes(service: CustomsService) {
  return createRouter()
    .openapi(consume, async (c) =>
      c.json(await service.consumeExemption(principalOf(c), c.req.valid('json')), 200),
    )
    .openapi(ledger, async (c) =>
      c.json(
        await service.listConsumptions(
          principalOf(c),
          c.req.valid('param').id,
          c.req.valid('query'),
        ),
        200,
      ),
    )
    .openapi(refusals, async (c) => c.json(await service.listRefusals(c.req.valid('query')), 200));
}
