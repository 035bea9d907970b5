import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  index,
  integer,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { issuers } from './issuers';

export const importFormats = ['ndjson', 'csv'] as const;
export type ImportFormat = (typeof importFormats)[number];

export const importStatuses = ['queued', 'running', 'done', 'failed'] as const;
export type ImportStatus = (typeof importStatuses)[number];

/**
 * A bulk import of certificates (`POST /v1/certificates/imports`): received whole into
 * `certificate_import_rows`, then worked through in the background a chunk at a time. `last_row`
 * is the last row behind it; it moves in the same transaction as the chunk's certificates and
 * counters, so a job that stops (a restart, a crash) resumes exactly where it was.
 */
export const certificateImports = pgTable(
  'certificate_imports',
  {
    id: uuid('id').primaryKey(),
    issuerId: uuid('issuer_id')
      .notNull()
      .references(() => issuers.id),
    /** The key that sent it: the actor of every audit entry the import writes. */
    apiKeyId: uuid('api_key_id'),
    actorRole: text('actor_role'),
    format: text('format', { enum: importFormats }).notNull(),
    dryRun: boolean('dry_run').notNull(),
    status: text('status', { enum: importStatuses }).notNull(),
    rows: integer('rows').notNull(),
    bytes: bigint('bytes', { mode: 'number' }).notNull(),
    /** The last staged row handled: the job goes on after it. */
    lastRow: integer('last_row').notNull().default(0),
    imported: integer('imported').notNull().default(0),
    unchanged: integer('unchanged').notNull().default(0),
    failed: integer('failed').notNull().default(0),
    /** Why a failed import stopped (rows not processed by then count as failed). */
    error: text('error'),
    /**
     * The upload's `Idempotency-Key`, when it had one: the same key from the same issuer again is
     * answered with this import, never a second one (a retry after a lost answer).
     */
    idempotencyKey: text('idempotency_key'),
    /** SHA-256 of the body as received (base64url): a retry under the key must send the same. */
    bodyDigest: text('body_digest'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [
    index('certificate_imports_issuer').on(t.issuerId, t.createdAt),
    uniqueIndex('certificate_imports_idempotency_key').on(t.issuerId, t.idempotencyKey),
    index('certificate_imports_unfinished')
      .on(t.createdAt)
      .where(sql`${t.status} IN ('queued', 'running')`),
  ],
);

export type CertificateImportRow = typeof certificateImports.$inferSelect;

/**
 * An import's rows as received (the staging table): each a certificate in the SPEC's JSON shape,
 * an NDJSON line as sent or a CSV record turned into that shape, or why the row could not be read.
 * Deleted when the import ends.
 */
export const certificateImportRows = pgTable(
  'certificate_import_rows',
  {
    importId: uuid('import_id')
      .notNull()
      .references(() => certificateImports.id, { onDelete: 'cascade' }),
    /** 1-based: the NDJSON line, or the CSV record (the header is row 0). */
    row: integer('row').notNull(),
    content: text('content'),
    /** A row that could not be read at all (a CSV record with the wrong number of fields). */
    problem: text('problem'),
  },
  (t) => [primaryKey({ columns: [t.importId, t.row] })],
);

/** The import's report: one line per problem of a row (a field that is not valid, a conflict). */
export const certificateImportProblems = pgTable(
  'certificate_import_problems',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    importId: uuid('import_id')
      .notNull()
      .references(() => certificateImports.id, { onDelete: 'cascade' }),
    row: integer('row').notNull(),
    number: text('number'),
    field: text('field').notNull(),
    problem: text('problem').notNull(),
  },
  (t) => [index('certificate_import_problems_import').on(t.importId, t.row)],
);

/**
 * What a dry run would have imported, by number: a later row with the same number is judged
 * against it (unchanged or a conflict) as a real import judges it against the certificate it wrote.
 */
export const certificateImportDryRunNumbers = pgTable(
  'certificate_import_dry_run_numbers',
  {
    importId: uuid('import_id')
      .notNull()
      .references(() => certificateImports.id, { onDelete: 'cascade' }),
    number: text('number').notNull(),
    /** The certificate's content as it would be signed (canonical JSON of its subject). */
    content: text('content').notNull(),
  },
  (t) => [primaryKey({ columns: [t.importId, t.number] })],
);
