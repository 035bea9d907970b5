import { z } from '@hono/zod-openapi';
import { principalOf, requireRole } from '../auth/auth.middleware';
import { actorOf } from '../auth/principal';
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
import { isValidRegionCode } from '../shared/identifiers';
import { schemes } from '../shared/schemes';
import type { InspectionsService } from './inspections.service';
import { DRAW_ALGORITHM } from './draw';

/** A GB/T 2260 prefix: a province (2 digits), prefecture (4) or county (6) under a real province. */
const regionPrefix = z
  .string()
  .regex(/^(\d{2}|\d{4}|\d{6})$/, 'must be 2, 4 or 6 digits of a GB/T 2260 code')
  .refine((p) => isValidRegionCode(p.padEnd(6, '0')), 'must start with a GB/T 2260 province code');

const CreateDrawBody = z
  .object({
    filter: z
      .object({
        scheme: z.enum(schemes).optional(),
        issuerId: z.string().uuid().optional(),
        region: regionPrefix.optional(),
      })
      .strict()
      .default({}),
    certificateCount: z.number().int().min(1).max(1000),
    inspectors: z.array(z.string().trim().min(1).max(100)).min(1).max(1000),
    inspectorCount: z.number().int().min(1).max(1000),
  })
  .strict()
  .openapi('CreateInspectionDraw');

const DrawSchema = z
  .object({
    id: z.string().uuid(),
    algorithm: z
      .string()
      .openapi({ description: `${DRAW_ALGORITHM}: see src/inspections/draw.ts` }),
    status: z.enum(['committed', 'drawn']),
    filter: z.object({
      scheme: z.string().optional(),
      issuerId: z.string().optional(),
      region: z.string().optional(),
    }),
    certificateCount: z.number().int(),
    inspectorCount: z.number().int(),
    commitment: z
      .string()
      .openapi({ description: 'SHA-256(seed), hex, published before the candidates were read' }),
    committedAt: z.string(),
    seed: z
      .string()
      .nullable()
      .openapi({ description: '32 bytes, hex; null until the draw is made' }),
    inspectors: z
      .array(z.string())
      .openapi({ description: 'The inspector pool, sorted by code point' }),
    candidatesCount: z.number().int().nullable(),
    candidatesDigest: z
      .string()
      .nullable()
      .openapi({ description: "SHA-256 of the candidate ids joined by '\\n', hex" }),
    candidates: z
      .array(z.string())
      .nullable()
      .optional()
      .openapi({ description: 'Candidate certificate ids, sorted by code point' }),
    selectedCertificates: z.array(
      z.object({
        id: z.string(),
        number: z.string(),
        scheme: z.string(),
        holder: z.object({ name: z.string(), uscc: z.string().nullable() }),
        issuer: z.object({ id: z.string(), name: z.string() }),
      }),
    ),
    selectedInspectors: z.array(z.string()),
    drawnAt: z.string().nullable(),
  })
  .openapi('InspectionDraw');

const createDraw = defineRoute({
  operationId: 'createInspectionDraw',
  method: 'post',
  path: '/v1/inspections/draws',
  tags: ['Supervision'],
  summary:
    'Draw certificates and inspectors at random (双随机) with a seed committed beforehand (supervisor)',
  security: bearerSecurity,
  middleware: [requireRole('supervisor')],
  request: { body: { ...json(CreateDrawBody), required: true } },
  responses: {
    201: { description: 'The published draw', ...json(DrawSchema) },
    ...problems({
      409: 'Another request made this draw first (`draw_already_made`)',
      422: 'The filter matches more certificates than a draw may publish (`too_many_candidates`)',
    }),
  },
});

const listDraws = defineRoute({
  operationId: 'listInspectionDraws',
  method: 'get',
  path: '/v1/inspections/draws',
  security: publicAccess,
  tags: ['Supervision'],
  summary: 'Published inspection draws, newest first (public, 一公开)',
  request: {
    query: z.object({
      ...pageQuery,
    }),
  },
  responses: {
    200: {
      description: 'A page of draws (without candidate lists)',
      ...json(
        z.object({
          items: z.array(DrawSchema),
          page: z.number(),
          pageSize: z.number(),
          total: z.number(),
        }),
      ),
    },
  },
});

const getDraw = defineRoute({
  operationId: 'getInspectionDraw',
  method: 'get',
  path: '/v1/inspections/draws/{id}',
  security: publicAccess,
  tags: ['Supervision'],
  summary: 'One published draw with its candidate list, seed and result (public)',
  request: { params: idParam },
  responses: {
    200: { description: 'The draw', ...json(DrawSchema) },
    ...problems(404),
  },
});

export function inspectionsRoutes(service: InspectionsService) {
  return createRouter()
    .openapi(createDraw, async (c) =>
      c.json(await service.createDraw(actorOf(principalOf(c)), c.req.valid('json')), 201),
    )
    .openapi(listDraws, async (c) => {
      const { page, pageSize } = c.req.valid('query');
      return c.json(await service.listDraws(page, pageSize), 200);
    })
    .openapi(getDraw, async (c) => c.json(await service.getDraw(c.req.valid('param').id), 200));
}
