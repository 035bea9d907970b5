import { z } from '@hono/zod-openapi';
import { validationFailed } from '../errors';
import { requireRole } from '../auth/auth.middleware';
import {
  bearerSecurity,
  createRouter,
  defineRoute,
  json,
  pageQuery,
  problems,
  publicAccess,
} from '../http/openapi';
import { queryInteger, sinceParam } from '../http/query';
import { MAX_ENTRIES_PAGE, type AuditService } from './audit.service';

const EntrySchema = z
  .object({
    index: z.number().int().openapi({ description: 'Leaf index (seq − 1)' }),
    seq: z.number().int(),
    at: z.string(),
    actorKeyId: z.string().nullable(),
    actorRole: z.string().nullable(),
    signatory: z.unknown(),
    action: z.string(),
    subjectType: z.string(),
    subjectId: z.string(),
    changeDigest: z
      .string()
      .openapi({ description: 'SHA-256 of the canonical JSON of the change, hex' }),
    leafHash: z.string().openapi({ description: 'SHA-256(0x00 ‖ canonical entry), base64' }),
  })
  .openapi('TransparencyEntry');

const CheckpointSchema = z
  .object({
    treeSize: z.number().int(),
    rootHash: z.string().openapi({ description: 'RFC 9162 Merkle tree head, base64' }),
    timestamp: z.string(),
    kid: z.string().openapi({ description: 'The platform key in /.well-known/jwks.json' }),
    signature: z.string().openapi({
      description:
        'Ed25519 over "certmark/checkpoint/v1\\n<treeSize>\\n<rootHash>\\n<timestamp>\\n" (UTF-8), base64',
    }),
  })
  .openapi('Checkpoint');

/** A leaf index or tree size in a query string. */
const count = (min: number) => queryInteger(min, Number.MAX_SAFE_INTEGER);

/** An entry's subject id, as a filter. */
const subjectFilter = z.string().trim().min(1).max(200).optional();

const listAudit = defineRoute({
  operationId: 'listAuditEntries',
  method: 'get',
  path: '/v1/audit',
  tags: ['Audit and transparency'],
  summary: 'The audit log, newest first, with each change (supervisor, paginated)',
  security: bearerSecurity,
  middleware: [requireRole('supervisor')],
  request: {
    query: z.object({
      subjectId: subjectFilter.openapi({
        description: 'The subject’s id (an entry’s `subjectId`)',
      }),
      subject: subjectFilter.openapi({ description: 'The same as `subjectId`' }),
      subjectType: z.string().trim().min(1).max(64).optional(),
      action: z.string().trim().min(1).max(64).optional(),
      since: sinceParam.optional().openapi({
        type: 'string',
        description:
          'Entries at or after this day (YYYY-MM-DD) or instant (with its offset: Z or +08:00)',
      }),
      ...pageQuery,
    }),
  },
  responses: {
    200: {
      description: 'A page of entries',
      ...json(
        z.object({
          items: z.array(
            EntrySchema.extend({
              index: z.number().int().nullable().openapi({
                description:
                  'Leaf index (seq − 1); null for an entry committed a moment ago and not yet in the tree',
              }),
              seq: z.number().int().nullable(),
              leafHash: z.string().nullable(),
              change: z.unknown(),
              changeMatchesDigest: z.boolean().openapi({
                description:
                  'Whether `change` is the change its `changeDigest` (which the log commits to) was made of: false for a change rewritten since',
              }),
            }),
          ),
          page: z.number(),
          pageSize: z.number(),
          total: z.number(),
        }),
      ),
    },
  },
});

const checkpoint = defineRoute({
  operationId: 'getTransparencyCheckpoint',
  method: 'get',
  path: '/v1/transparency/checkpoint',
  security: publicAccess,
  tags: ['Audit and transparency'],
  summary: 'The audit log’s current size and Merkle root, signed with the platform key (public)',
  responses: { 200: { description: 'A signed checkpoint', ...json(CheckpointSchema) } },
});

const inclusion = defineRoute({
  operationId: 'getInclusionProof',
  method: 'get',
  path: '/v1/transparency/proof/inclusion',
  security: publicAccess,
  tags: ['Audit and transparency'],
  summary: 'RFC 9162 inclusion proof of leaf `index` in the tree of `size` leaves (public)',
  request: { query: z.object({ index: count(0), size: count(1) }) },
  responses: {
    200: {
      description: 'The audit path, bottom-up',
      ...json(
        z.object({
          index: z.number(),
          treeSize: z.number(),
          leafHash: z.string(),
          rootHash: z.string(),
          proof: z.array(z.string()),
        }),
      ),
    },
    ...problems({
      400: 'Invalid input (`validation_failed`), or a size or index outside the log (`invalid_tree_size`)',
    }),
  },
});

const consistency = defineRoute({
  operationId: 'getConsistencyProof',
  method: 'get',
  path: '/v1/transparency/proof/consistency',
  security: publicAccess,
  tags: ['Audit and transparency'],
  summary: 'RFC 9162 consistency proof between the trees of `from` and `to` leaves (public)',
  request: { query: z.object({ from: count(1), to: count(1) }) },
  responses: {
    200: {
      description: 'The consistency path',
      ...json(
        z.object({
          from: z.number(),
          to: z.number(),
          fromRoot: z.string(),
          toRoot: z.string(),
          proof: z.array(z.string()),
        }),
      ),
    },
    ...problems({
      400: 'Invalid input (`validation_failed`), or a size or index outside the log (`invalid_tree_size`)',
    }),
  },
});

const entries = defineRoute({
  operationId: 'listTransparencyEntries',
  method: 'get',
  path: '/v1/transparency/entries',
  security: publicAccess,
  tags: ['Audit and transparency'],
  summary: `Log entries with leaf index in [start, end), at most ${MAX_ENTRIES_PAGE} (public)`,
  description:
    'Each entry carries exactly the fields its leaf commits to: leafHash = SHA-256(0x00 ‖ canonical JSON of ' +
    '{seq, at, actorKeyId, actorRole, signatory, action, subjectType, subjectId, changeDigest}), keys sorted, no whitespace.',
  request: { query: z.object({ start: count(0), end: count(1) }) },
  responses: {
    200: {
      description: 'The entries (fewer than asked at the end of the log)',
      ...json(
        z.object({
          start: z.number(),
          end: z.number(),
          treeSize: z.number(),
          entries: z.array(EntrySchema),
        }),
      ),
    },
    ...problems({
      400: 'Invalid input (`validation_failed`), or a size or index outside the log (`invalid_tree_size`)',
    }),
  },
});

export function auditRoutes(service: AuditService) {
  return createRouter()
    .openapi(listAudit, async (c) => {
      const { subjectId, subject, ...filter } = c.req.valid('query');
      if (subject && subjectId && subject !== subjectId)
        throw validationFailed([
          { path: 'query.subject', message: 'names another subject than subjectId' },
        ]);
      return c.json(await service.search({ ...filter, subject: subjectId ?? subject }), 200);
    })
    .openapi(checkpoint, async (c) => {
      c.header('cache-control', 'no-store');
      return c.json(await service.checkpoint(), 200);
    })
    .openapi(inclusion, async (c) => {
      const { index, size } = c.req.valid('query');
      return c.json(await service.inclusionProof(index, size), 200);
    })
    .openapi(consistency, async (c) => {
      const { from, to } = c.req.valid('query');
      return c.json(await service.consistencyProof(from, to), 200);
    })
    .openapi(entries, async (c) => {
      const { start, end } = c.req.valid('query');
      return c.json(await service.entries(start, end), 200);
    });
}
