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
  refuseBlank,
} from '../http/openapi';
import { VerdictSchema } from '../verification/verification.schemas';
import { labelStockNames, labelStocks } from './label-stocks';
import { prefers } from '../http/accept';
import { queryInteger } from '../http/query';
import { streamedBody } from '../http/streamed-body';
import type { MarksService } from './marks.service';

/** A text field: trimmed, bounded, no control characters. */
const text = (max: number) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    // eslint-disable-next-line no-control-regex
    .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters');

const IssueMarksBody = z
  .object({
    count: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .openapi({ description: 'Marks to issue, 1 to 1,000,000' }),
    model: text(100)
      .refine((m) => !m.includes('*'), 'a single product model, not a pattern')
      .optional()
      .openapi({
        description: 'The product model the marks are for; must be in the certificate’s scope',
      }),
    lot: text(100).optional(),
  })
  .strict()
  .openapi('IssueMarks');

const BatchSchema = z
  .object({
    batchId: z.string().uuid(),
    certificateId: z.string().uuid(),
    count: z.number().int(),
    done: z.number().int().openapi({ description: 'Marks written so far' }),
    status: z.enum(['pending', 'running', 'done', 'failed']),
    model: z.string().nullable(),
    lot: z.string().nullable(),
    createdAt: z.string(),
    finishedAt: z.string().nullable(),
    links: z.object({
      self: z.string(),
      marks: z.string(),
      labels: z.string(),
      labelsPdf: z.string().openapi({
        description: 'The whole batch as one label PDF (`?stock=`, `?from=&to=` narrow it)',
      }),
      statusList: z.string().optional().openapi({
        description:
          'The batch’s W3C Bitstring Status List: one bit per mark by its position in the batch, set when the mark is void',
      }),
    }),
  })
  .openapi('MarkBatch');

const batchParam = z.object({
  batchId: z
    .string()
    .uuid()
    .openapi({ param: { name: 'batchId', in: 'path' } }),
});
const serialParam = z.object({
  serial: z
    .string()
    .regex(/^\d{16}$/, 'must be the 16-digit serial')
    .openapi({ param: { name: 'serial', in: 'path' }, example: '1234567890123456' }),
});

const issuerOnly = { security: bearerSecurity, middleware: [requireRole('issuer')] };

const issueMarks = defineRoute({
  operationId: 'issueMarks',
  method: 'post',
  path: '/v1/certificates/{id}/marks',
  tags: ['Marks'],
  summary: 'Issue a batch of signed product marks for a certificate (owning issuer)',
  description:
    'A batch of any size is recorded at once and answered 201 `done`: its marks exist, and verify, from then on (their serials follow from the batch; no row is written per mark). 503 `service_starting` with `Retry-After` only while the first start after an update reads older serials.',
  ...issuerOnly,
  request: { params: idParam, body: { ...json(IssueMarksBody), required: true } },
  responses: {
    201: { description: 'Issued', ...json(BatchSchema) },
    ...problems(404, {
      403: 'Another issuer’s certificate (`forbidden`), or a suspended issuer (`issuer_suspended`)',
      409: 'The certificate is not valid now (`certificate_not_valid`), or the issuer has no current key (`no_signing_key`)',
      422: 'The model is not in the certificate’s scope (`model_out_of_scope`), or more marks than a CCC exemption’s quantity (`quantity_exceeded`)',
    }),
  },
});

const getBatch = defineRoute({
  operationId: 'getMarkBatch',
  method: 'get',
  path: '/v1/mark-batches/{batchId}',
  tags: ['Marks'],
  summary: 'A mark batch’s progress (owning issuer)',
  ...issuerOnly,
  request: { params: batchParam },
  responses: { 200: { description: 'The batch', ...json(BatchSchema) }, ...problems(404) },
});

const exportMarks = defineRoute({
  operationId: 'exportMarkBatch',
  method: 'get',
  path: '/v1/mark-batches/{batchId}/marks',
  tags: ['Marks'],
  summary: 'Stream a done batch’s marks: NDJSON, or CSV with `Accept: text/csv` (owning issuer)',
  ...issuerOnly,
  request: { params: batchParam },
  responses: {
    200: {
      description: 'One `{"serial","code","url"}` a line (NDJSON), or CSV with a header row',
      content: {
        'application/x-ndjson': { schema: z.string() },
        'text/csv': { schema: z.string() },
      },
    },
    ...problems(404, {
      409: 'The batch is not done (`batch_not_ready`), or its key was declared compromised (`batch_key_compromised`)',
    }),
  },
});

const labels = defineRoute({
  operationId: 'getMarkBatchLabelsSvg',
  method: 'get',
  path: '/v1/mark-batches/{batchId}/labels.svg',
  tags: ['Marks'],
  summary: 'A printable A4 label sheet of a done batch, 28 labels a page (owning issuer)',
  ...issuerOnly,
  request: {
    params: batchParam,
    query: z.object({ page: queryInteger(1, 1_000_000).default(1) }),
  },
  responses: {
    200: {
      description: 'One A4 page (SVG, true size)',
      content: { 'image/svg+xml': { schema: z.string() } },
    },
    ...problems(404, {
      409: 'The batch is not done (`batch_not_ready`), or its key was declared compromised (`batch_key_compromised`)',
    }),
  },
});

/** A position in a batch: 1-based, in issuance order (PostgreSQL integer). */
const position = (name: 'from' | 'to', description: string) =>
  // Blank is refused: `?to=` from an unset variable would print the whole batch.
  refuseBlank(
    z
      // Decimal digits only: Number() would also read 0x10, +1 and 1e3.
      .string()
      .regex(/^[1-9][0-9]{0,9}$/, 'a position is a whole number from 1')
      .transform(Number)
      .pipe(z.number().max(2_147_483_647))
      .optional()
      .openapi({
        param: { name, in: 'query' },
        type: 'integer',
        minimum: 1,
        maximum: 2_147_483_647,
        description,
        example: name === 'from' ? 1 : 28,
      }),
  );

const labelsPdf = defineRoute({
  operationId: 'getMarkBatchLabelsPdf',
  method: 'get',
  path: '/v1/mark-batches/{batchId}/labels.pdf',
  tags: ['Marks'],
  summary: 'A done batch’s labels as one PDF on a named label stock, streamed (owning issuer)',
  description: [
    'The whole batch (or the marks at positions `from` to `to`) as one PDF: each label a vector QR code of the mark’s URL, its serial in groups of four and the certificate’s scheme and number. The PDF is streamed page by page at the reader’s pace, so a 1,000,000-mark batch prints in bounded memory.',
    '',
    '**Positions.** A mark’s position is its place in the batch in issuance order, from 1: the line number of the export (`…/marks`), and one more than its index in the batch’s status list. `from` and `to` are inclusive; a rare serial collision during issuance can leave a position unused.',
    '',
    '**Void marks** are printed struck through, in their place: a crossed box with VOID instead of the QR code (no code is printed for them) and the serial crossed out, so each sheet still holds the positions its footer names.',
    '',
    '**Stocks** (`stock`): ' +
      labelStockNames.map((name) => `\`${name}\`: ${labelStocks[name].description}`).join('; ') +
      '. Sheets carry a footer naming the batch, the positions and the page.',
  ].join('\n'),
  ...issuerOnly,
  request: {
    params: batchParam,
    query: z.object({
      stock: z
        .enum(labelStockNames)
        .default('a4-4x7')
        .openapi({ param: { name: 'stock', in: 'query' }, description: 'The label stock' }),
      from: position('from', 'First position to print (default: the batch’s first)'),
      to: position('to', 'Last position to print, inclusive (default: the batch’s last)'),
    }),
  },
  responses: {
    200: {
      description: 'The labels (PDF 1.3); `X-Total-Pages` says how many pages follow',
      content: { 'application/pdf': { schema: z.string().openapi({ format: 'binary' }) } },
    },
    ...problems(404, {
      409: 'The batch is not done (`batch_not_ready`), or its key was declared compromised (`batch_key_compromised`)',
      422: '`from` or `to` outside the batch’s positions, or `to` before `from` (`label_range_invalid`, the parameter in `errors`)',
    }),
  },
});

const markQr = (format: 'svg' | 'png') =>
  defineRoute({
    operationId: `getMarkQr${format === 'svg' ? 'Svg' : 'Png'}`,
    method: 'get',
    path: `/v1/marks/{serial}/qr.${format}`,
    tags: ['Marks'],
    summary: `One mark’s QR code (${format.toUpperCase()}), holding its URL (owning issuer)`,
    ...issuerOnly,
    request: { params: serialParam },
    responses: {
      200: {
        description: 'QR code, version ≤ 6 at error correction M',
        content: { [format === 'svg' ? 'image/svg+xml' : 'image/png']: { schema: z.string() } },
      },
      ...problems(404, {
        409: 'The mark is void: its code is not issued again (`mark_already_void`)',
        422: 'The serial’s check digits fail (`serial_check_failed`)',
      }),
    },
  });

const ScanEntrySchema = z.object({
  at: z.string(),
  region: z.string().nullable(),
  lat: z.number().nullable(),
  lon: z.number().nullable(),
  callerRole: z.string().nullable().openapi({ description: 'The API key’s role; null: public' }),
  channel: z.enum(['api', 'page']),
  verdict: VerdictSchema,
  reasons: z.array(z.string()),
  counted: z.boolean().openapi({
    description:
      'False for a repeat view of the mark’s page from the same browser within the window: logged, not counted toward the scan count or the clone thresholds',
  }),
});

const markScans = defineRoute({
  operationId: 'listMarkScans',
  method: 'get',
  path: '/v1/marks/{serial}/scans',
  tags: ['Marks'],
  summary: 'Where and when a mark was verified, newest first (supervisor, owning issuer)',
  security: bearerSecurity,
  middleware: [requireRole('supervisor', 'issuer')],
  request: { params: serialParam, query: z.object(pageQuery) },
  responses: {
    200: {
      description: 'A page of the mark’s scan log',
      ...json(
        z.object({
          serial: z.string(),
          scanCount: z.number().int(),
          suspectedCloneSince: z.string().nullable(),
          items: z.array(ScanEntrySchema),
          page: z.number(),
          pageSize: z.number(),
          total: z.number(),
        }),
      ),
    },
    ...problems(404, {
      403: 'Another issuer’s mark, or a role that may not read scans (`forbidden`)',
      422: 'The serial’s check digits fail (`serial_check_failed`)',
    }),
  },
});

const voidMark = defineRoute({
  operationId: 'voidMark',
  method: 'post',
  path: '/v1/marks/{serial}/void',
  tags: ['Marks'],
  summary: 'Void a destroyed, recalled or lost mark (owning issuer)',
  ...issuerOnly,
  request: {
    params: serialParam,
    body: { ...json(z.object({ reason: text(2000) }).strict()), required: true },
  },
  responses: {
    200: {
      description: 'Voided',
      ...json(
        z.object({
          serial: z.string(),
          status: z.literal('void'),
          voidReason: z.string(),
          voidedAt: z.string(),
        }),
      ),
    },
    ...problems(404, {
      409: 'The mark is already void (`mark_already_void`)',
      422: 'The serial’s check digits fail (`serial_check_failed`)',
    }),
  },
});

export function marksRoutes(service: MarksService) {
  return createRouter()
    .openapi(issueMarks, async (c) => {
      const batch = await service.issueBatch(
        principalOf(c),
        c.req.valid('param').id,
        c.req.valid('json'),
      );
      return c.json(batch, 201);
    })
    .openapi(getBatch, async (c) =>
      c.json(await service.getBatch(principalOf(c), c.req.valid('param').batchId), 200),
    )
    .openapi(exportMarks, async (c) => {
      const csv = prefers(c.req.header('accept'), ['text/csv'], ['application/x-ndjson']);
      const stream = await service.exportBatch(
        principalOf(c),
        c.req.valid('param').batchId,
        csv ? 'csv' : 'ndjson',
      );
      return c.body(await streamedBody(c, stream), 200, {
        'content-type': csv ? 'text/csv; charset=utf-8' : 'application/x-ndjson',
        'cache-control': 'no-store',
        ...(csv
          ? {
              'content-disposition': `attachment; filename="marks-${c.req.valid('param').batchId}.csv"`,
            }
          : {}),
      });
    })
    .openapi(labels, async (c) => {
      const { batchId } = c.req.valid('param');
      const sheet = await service.labelSheet(principalOf(c), batchId, c.req.valid('query').page);
      return c.body(sheet.svg, 200, {
        'content-type': 'image/svg+xml',
        'cache-control': 'no-store',
        'x-total-pages': String(sheet.pages),
        ...(sheet.page < sheet.pages
          ? { link: `</v1/mark-batches/${batchId}/labels.svg?page=${sheet.page + 1}>; rel="next"` }
          : {}),
      });
    })
    .openapi(labelsPdf, async (c) => {
      const { batchId } = c.req.valid('param');
      const query = c.req.valid('query');
      const labels = await service.labelPdf(principalOf(c), batchId, query);
      return c.body(await streamedBody(c, labels.stream), 200, {
        'content-type': 'application/pdf',
        // Every label carries a mark code: whoever holds it can print copies (SPEC "Product marks").
        'cache-control': 'no-store',
        'content-disposition': `attachment; filename="labels-${batchId}-${query.stock}-${labels.from}-${labels.to}.pdf"`,
        'x-total-pages': String(labels.pages),
      });
    })
    .openapi(markQr('svg'), async (c) => {
      const svg = await service.markQrSvg(principalOf(c), c.req.valid('param').serial);
      return c.body(svg, 200, { 'content-type': 'image/svg+xml', 'cache-control': 'no-store' });
    })
    .openapi(markQr('png'), async (c) => {
      const png = await service.markQrPng(principalOf(c), c.req.valid('param').serial);
      return c.body(new Uint8Array(png), 200, {
        'content-type': 'image/png',
        'cache-control': 'no-store',
      });
    })
    .openapi(markScans, async (c) =>
      c.json(
        await service.scanHistory(
          principalOf(c),
          c.req.valid('param').serial,
          c.req.valid('query'),
        ),
        200,
      ),
    )
    .openapi(voidMark, async (c) =>
      c.json(
        await service.voidMark(
          principalOf(c),
          c.req.valid('param').serial,
          c.req.valid('json').reason,
        ),
        200,
      ),
    );
}
