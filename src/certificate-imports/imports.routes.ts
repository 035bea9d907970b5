import { z } from '@hono/zod-openapi';
import { principalOf, requireRole } from '../auth/auth.middleware';
import { DEFAULT_IMPORT_MAX_MIB } from '../config';
import { AppError } from '../errors';
import {
  bearerSecurity,
  createRouter,
  defineRoute,
  idParam,
  json,
  problems,
} from '../http/openapi';
import type { ImportFormat } from '../db/schema/certificate-imports';
import { CSV_COLUMNS } from './import-formats';
import { streamedBody } from '../http/streamed-body';
import type { CertificateImportsService } from './imports.service';

/** The path whose body is streamed to staging, not held to the 1 MiB JSON limit (src/app.ts). */
export const IMPORTS_PATH = '/v1/certificates/imports';

const ImportSchema = z
  .object({
    importId: z.string().uuid(),
    status: z.enum(['queued', 'running', 'done', 'failed']),
    format: z.enum(['ndjson', 'csv']),
    dryRun: z.boolean().openapi({ description: 'A dry run judges every row and writes nothing' }),
    rows: z.number().int().openapi({ description: 'Rows received (blank NDJSON lines aside)' }),
    imported: z.number().int().openapi({
      description: 'Certificates issued (a dry run: that would be issued)',
    }),
    unchanged: z.number().int().openapi({
      description: 'Rows whose certificate the issuer already has with the same content',
    }),
    failed: z.number().int().openapi({
      description:
        'Rows not valid or in conflict (in the report); a failed import adds those it did not reach',
    }),
    error: z.string().nullable().openapi({ description: 'Why a failed import stopped' }),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    report: z.string().url().openapi({ description: 'The per-row report (CSV)' }),
  })
  .openapi('CertificateImport');

const MEDIA_TYPES: Record<string, ImportFormat> = {
  'application/x-ndjson': 'ndjson',
  'text/csv': 'csv',
};

const csvHeader = CSV_COLUMNS.join(',');

/**
 * The upload, its limit as configured: the one body the service takes over 1 MiB (docs/decisions.md
 * "Body limit"), said where a client reads what to send.
 */
const create = (maxBytes: number) => {
  const limit = `${maxBytes / (1024 * 1024)} MiB (IMPORT_MAX_MIB; ${DEFAULT_IMPORT_MAX_MIB} MiB unless configured)`;
  return defineRoute({
    operationId: 'importCertificates',
    method: 'post',
    path: IMPORTS_PATH,
    tags: ['Certificates'],
    summary:
      'Import certificates in bulk (issuer): NDJSON or CSV, worked through in the background',
    description:
      'Each row is a certificate in the shape of `POST /v1/certificates`, validated by the same rules ' +
      '(past dates are accepted: validity is judged at verification). NDJSON: one JSON object a line. ' +
      `CSV (UTF-8, RFC 4180): a header naming columns of \`${csvHeader}\` (\`number\`, \`scheme\`, ` +
      '`holder.name`, `validFrom`, `validUntil`, `signatory.name` and a scope required); `scope.models` ' +
      'and `standards` list items separated by `|`; `factories` and `scope` (several items) are JSON ' +
      `arrays. The body may be up to ${limit}: this operation alone is exempt from the 1 MiB limit ` +
      'of every other request body. Idempotent per issuer and ' +
      'number: a row already imported with the same content counts as `unchanged`; with other content ' +
      'it is a conflict in the report, never an overwrite. Every imported certificate is signed, ' +
      'audited and searchable as one issued alone.',
    security: bearerSecurity,
    middleware: [requireRole('issuer')],
    request: {
      headers: z.object({
        'idempotency-key': IdempotencyKey,
      }),
      // Strict: a dry run asked under another spelling (`dryRun[]`, `dry_run`) would otherwise
      // be dropped as an unknown parameter, and the file imported for real.
      query: z
        .object({
          dryRun: z
            .enum(['true', 'false'])
            .optional()
            .openapi({ description: '`true`: judge every row, write no certificate' }),
        })
        .strict(),
      body: {
        required: true,
        content: {
          'application/x-ndjson': {
            schema: z.string().openapi({ description: 'One certificate (JSON) a line' }),
          },
          'text/csv': {
            schema: z
              .string()
              .openapi({ description: `UTF-8 CSV with a header, e.g. ${csvHeader}` }),
          },
        },
      },
    },
    responses: {
      202: {
        description:
          'Received whole; the job runs in the background. Sent again under the same ' +
          '`Idempotency-Key`: the import received the first time, as it stands now',
        ...json(ImportSchema),
      },
      ...problems({
        400: 'Not UTF-8, a CSV header that is not the documented one, or no rows (`malformed_import`)',
        403: 'Not an issuer key (`forbidden`), or a suspended issuer (`issuer_suspended`)',
        409: 'An upload with the same `Idempotency-Key` is still being received (`idempotency_key_in_use`)',
        413: `A body over ${limit} (\`payload_too_large\`), declared or counted as it arrives`,
        422:
          'The `Idempotency-Key` was sent before with another upload: other rows, another format ' +
          'or `dryRun` (`idempotency_key_reused`)',
      }),
    },
  });
};

const get = defineRoute({
  operationId: 'getCertificateImport',
  method: 'get',
  path: `${IMPORTS_PATH}/{id}`,
  tags: ['Certificates'],
  summary: 'An import’s progress (its issuer only)',
  security: bearerSecurity,
  middleware: [requireRole('issuer')],
  request: { params: idParam },
  responses: {
    200: { description: 'The import', ...json(ImportSchema) },
    ...problems(404),
  },
});

const report = defineRoute({
  operationId: 'getCertificateImportReport',
  method: 'get',
  path: `${IMPORTS_PATH}/{id}/report.csv`,
  tags: ['Certificates'],
  summary: 'An import’s per-row report as CSV: row, number, field, problem (its issuer only)',
  security: bearerSecurity,
  middleware: [requireRole('issuer')],
  request: { params: idParam },
  responses: {
    200: {
      description:
        'One line per problem of a row (a field that is not valid, a field in conflict with the ' +
        'certificate already issued), in row order; `row` is the NDJSON line or the CSV record ' +
        'after the header',
      content: { 'text/csv': { schema: z.string() } },
    },
    ...problems(404),
  },
});

/**
 * `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header): a Structured Field String (RFC 8941
 * §3.3.3, `"…"`), or the same characters bare as many clients send them; at most 255 characters.
 */
const IdempotencyKey = z
  .string()
  .transform((value, ctx) => {
    const quoted = /^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"$/.exec(value);
    const key = quoted ? quoted[1]!.replace(/\\(["\\])/g, '$1') : value;
    if (key.length === 0 || key.length > 255 || (!quoted && !/^[\x21-\x7e]+$/.test(key))) {
      ctx.addIssue({
        code: 'custom',
        message: 'an Idempotency-Key is a string of 1 to 255 printable ASCII characters',
      });
      return z.NEVER;
    }
    return key;
  })
  .optional()
  .openapi({
    type: 'string',
    description:
      'Makes the upload safe to send again (draft-ietf-httpapi-idempotency-key-header): an ' +
      'upload with a key this issuer has used is answered with the import received under it, ' +
      'never a second import; a unique value per import, e.g. a UUID',
    example: '"8e03978e-40d5-43e8-bc93-6894a57f9324"',
  });

/** `Content-Type` → the import's format; anything else is a 415. */
function formatOf(contentType: string | undefined): ImportFormat {
  const [essence, ...parameters] = (contentType ?? '').split(';').map((p) => p.trim());
  const format = MEDIA_TYPES[essence?.toLowerCase() ?? ''];
  const charset = parameters
    .map((p) => /^charset=(.*)$/i.exec(p)?.[1]?.replace(/"/g, '').toLowerCase())
    .find(Boolean);
  if (!format || (charset && charset !== 'utf-8' && charset !== 'utf8'))
    throw new AppError(
      'unsupported_media_type',
      'an import is application/x-ndjson or text/csv, in UTF-8',
    );
  return format;
}

export function certificateImportsRoutes(service: CertificateImportsService) {
  return createRouter()
    .openapi(create(service.maxBytes), async (c) => {
      const format = formatOf(c.req.header('content-type'));
      const declared = c.req.header('content-length');
      const view = await service.receive(principalOf(c), {
        format,
        dryRun: c.req.valid('query').dryRun === 'true',
        body: c.req.raw.body as AsyncIterable<Uint8Array> | null,
        declaredBytes: declared !== undefined ? Number(declared) : undefined,
        idempotencyKey: c.req.valid('header')['idempotency-key'],
      });
      return c.json(view, 202, { location: `${IMPORTS_PATH}/${view.importId}` });
    })
    .openapi(get, async (c) =>
      c.json(await service.get(principalOf(c), c.req.valid('param').id), 200),
    )
    .openapi(report, async (c) => {
      const lines = await service.report(principalOf(c), c.req.valid('param').id);
      const encoder = new TextEncoder();
      const pages = lines[Symbol.asyncIterator]();
      // A page at a time, as the client reads: a long report is never held whole.
      const stream = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const next = await pages.next();
          if (next.done) controller.close();
          else controller.enqueue(encoder.encode(next.value));
        },
      });
      return c.body(await streamedBody(c, stream), 200, {
        'content-type': 'text/csv; charset=utf-8',
        'content-disposition': `attachment; filename="import-${c.req.valid('param').id}-report.csv"`,
      });
    });
}
