import { and, asc, eq, gt, inArray, lt, sql } from 'drizzle-orm';
import { rowsOf, type Queryable } from '../db/client';
import {
  certificateImportDryRunNumbers,
  certificateImportProblems,
  certificateImportRows,
  certificateImports,
  type CertificateImportRow,
  type ImportStatus,
} from '../db/schema/certificate-imports';

export async function insertImport(
  db: Queryable,
  row: typeof certificateImports.$inferInsert,
): Promise<void> {
  await db.insert(certificateImports).values(row);
}

/**
 * Staged rows, with one insert whose rows travel as one JSON parameter (as the certificates
 * themselves do: a thousand rows, one parameter to bind).
 */
export async function insertRows(
  db: Queryable,
  importId: string,
  rows: readonly { row: number; content: string | null; problem: string | null }[],
): Promise<void> {
  if (rows.length === 0) return;
  await db.execute(sql`
    INSERT INTO certificate_import_rows (import_id, row, content, problem)
    SELECT ${importId}::uuid, row, content, problem
    FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
      AS staged(row integer, content text, problem text)`);
}

/**
 * The import received whole: its row and byte counts and the body's digest. Answers the import as
 * its transaction commits it, so the receipt is written from it, not read back after the commit.
 */
export async function setReceived(
  db: Queryable,
  params: { id: string; rows: number; bytes: number; bodyDigest: string },
): Promise<CertificateImportRow> {
  const [row] = await db
    .update(certificateImports)
    .set({ rows: params.rows, bytes: params.bytes, bodyDigest: params.bodyDigest })
    .where(eq(certificateImports.id, params.id))
    .returning();
  return row!;
}

/**
 * Lets the caller's transaction wait on its client for up to `ms` between statements (the
 * session's own limit, POSTGRES_TIMEOUTS.idleInTransactionMs, is a few seconds: nothing else
 * waits inside a transaction). For the rest of the transaction only.
 */
export async function allowIdleInTransaction(tx: Queryable, ms: number): Promise<void> {
  await tx.execute(
    sql`SELECT set_config('idle_in_transaction_session_timeout', ${`${Math.trunc(ms)}ms`}, true)`,
  );
}

/**
 * Holds an issuer's `Idempotency-Key` for the caller's transaction, or answers false at once when
 * another upload under it is being received (its transaction holds it until it commits or not).
 */
export async function tryLockIdempotencyKey(
  tx: Queryable,
  params: { issuerId: string; idempotencyKey: string },
): Promise<boolean> {
  const [row] = rowsOf<{ locked: boolean }>(
    await tx.execute(
      sql`SELECT pg_try_advisory_xact_lock(hashtextextended(${`certmark/certificate-import-key/${params.issuerId}/${params.idempotencyKey}`}, 0)) AS locked`,
    ),
  );
  return row?.locked === true;
}

/** The issuer's import received under an `Idempotency-Key`. */
export async function findImportByIdempotencyKey(
  db: Queryable,
  params: { issuerId: string; idempotencyKey: string },
): Promise<CertificateImportRow | undefined> {
  const [row] = await db
    .select()
    .from(certificateImports)
    .where(
      and(
        eq(certificateImports.issuerId, params.issuerId),
        eq(certificateImports.idempotencyKey, params.idempotencyKey),
      ),
    )
    .limit(1);
  return row;
}

export async function findImport(
  db: Queryable,
  id: string,
): Promise<CertificateImportRow | undefined> {
  const [row] = await db
    .select()
    .from(certificateImports)
    .where(eq(certificateImports.id, id))
    .limit(1);
  return row;
}

/** The import's row, locked for its chunk's transaction (one writer of its counters). */
export async function lockImport(
  tx: Queryable,
  id: string,
): Promise<CertificateImportRow | undefined> {
  const [row] = await tx
    .select()
    .from(certificateImports)
    .where(eq(certificateImports.id, id))
    .for('update')
    .limit(1);
  return row;
}

export async function startImport(db: Queryable, params: { id: string; at: Date }): Promise<void> {
  await db
    .update(certificateImports)
    .set({ status: 'running', startedAt: params.at })
    .where(and(eq(certificateImports.id, params.id), eq(certificateImports.status, 'queued')));
}

/** Imports not ended (queued, or running when their process stopped), oldest first. */
export async function unfinishedImportIds(
  db: Queryable,
  options: { createdBefore?: Date | undefined } = {},
): Promise<string[]> {
  const rows = await db
    .select({ id: certificateImports.id })
    .from(certificateImports)
    .where(
      and(
        sql`${certificateImports.status} IN ('queued', 'running')`,
        options.createdBefore ? lt(certificateImports.createdAt, options.createdBefore) : undefined,
      ),
    )
    .orderBy(asc(certificateImports.createdAt));
  return rows.map((r) => r.id);
}

/** The next staged rows after `afterRow`, in order. */
export async function nextRows(
  tx: Queryable,
  params: { importId: string; afterRow: number; limit: number },
) {
  return tx
    .select({
      row: certificateImportRows.row,
      content: certificateImportRows.content,
      problem: certificateImportRows.problem,
    })
    .from(certificateImportRows)
    .where(
      and(
        eq(certificateImportRows.importId, params.importId),
        gt(certificateImportRows.row, params.afterRow),
      ),
    )
    .orderBy(asc(certificateImportRows.row))
    .limit(params.limit);
}

export interface ImportProblem {
  row: number;
  number: string | null;
  field: string;
  problem: string;
}

export async function insertProblems(
  tx: Queryable,
  importId: string,
  problems: readonly ImportProblem[],
): Promise<void> {
  if (problems.length === 0) return;
  await tx.insert(certificateImportProblems).values(problems.map((p) => ({ importId, ...p })));
}

/** A chunk's outcome added to the import's counters; `lastRow` is where the job goes on. */
export async function advanceImport(
  tx: Queryable,
  params: { id: string; lastRow: number; imported: number; unchanged: number; failed: number },
): Promise<void> {
  await tx
    .update(certificateImports)
    .set({
      lastRow: params.lastRow,
      imported: sql`${certificateImports.imported} + ${params.imported}`,
      unchanged: sql`${certificateImports.unchanged} + ${params.unchanged}`,
      failed: sql`${certificateImports.failed} + ${params.failed}`,
    })
    .where(eq(certificateImports.id, params.id));
}

/**
 * Ends an import (once) and drops what only the job needed (its staged rows, a dry run's
 * numbers). A failed import counts the rows it did not reach as failed.
 */
export async function endImport(
  tx: Queryable,
  params: {
    id: string;
    status: Extract<ImportStatus, 'done' | 'failed'>;
    at: Date;
    error: string | null;
  },
): Promise<CertificateImportRow | undefined> {
  const [ended] = await tx
    .update(certificateImports)
    .set({
      status: params.status,
      finishedAt: params.at,
      error: params.error,
      failed: sql`${certificateImports.rows} - ${certificateImports.imported} - ${certificateImports.unchanged}`,
    })
    .where(
      and(
        eq(certificateImports.id, params.id),
        sql`${certificateImports.status} IN ('queued', 'running')`,
      ),
    )
    .returning();
  if (!ended) return undefined;
  // The rows a failed job never reached count as failed (above): each gets its line in the report,
  // from the staged rows, before they go.
  if (params.status === 'failed') {
    await tx.execute(sql`
      INSERT INTO certificate_import_problems (import_id, row, number, field, problem)
      SELECT import_id, row, NULL, '(row)', ${`not reached: ${params.error ?? 'the import stopped'}`}
      FROM certificate_import_rows
      WHERE import_id = ${params.id} AND row > ${ended.lastRow}
      ORDER BY row`);
  }
  await tx.delete(certificateImportRows).where(eq(certificateImportRows.importId, params.id));
  await tx
    .delete(certificateImportDryRunNumbers)
    .where(eq(certificateImportDryRunNumbers.importId, params.id));
  return ended;
}

/** What a dry run would have imported so far, of these numbers: number → content. */
export async function dryRunContents(
  tx: Queryable,
  params: { importId: string; numbers: readonly string[] },
): Promise<Map<string, string>> {
  if (params.numbers.length === 0) return new Map();
  const rows = await tx
    .select({
      number: certificateImportDryRunNumbers.number,
      content: certificateImportDryRunNumbers.content,
    })
    .from(certificateImportDryRunNumbers)
    .where(
      and(
        eq(certificateImportDryRunNumbers.importId, params.importId),
        inArray(certificateImportDryRunNumbers.number, [...params.numbers]),
      ),
    );
  return new Map(rows.map((r) => [r.number, r.content]));
}

export async function insertDryRunNumbers(
  tx: Queryable,
  importId: string,
  rows: readonly { number: string; content: string }[],
): Promise<void> {
  if (rows.length === 0) return;
  await tx.insert(certificateImportDryRunNumbers).values(rows.map((r) => ({ importId, ...r })));
}

/** A page of the report, in row order (keyset on the problem's id). */
export async function reportPage(
  db: Queryable,
  params: { importId: string; afterId: number; limit: number },
) {
  return db
    .select({
      id: certificateImportProblems.id,
      row: certificateImportProblems.row,
      number: certificateImportProblems.number,
      field: certificateImportProblems.field,
      problem: certificateImportProblems.problem,
    })
    .from(certificateImportProblems)
    .where(
      and(
        eq(certificateImportProblems.importId, params.importId),
        gt(certificateImportProblems.id, params.afterId),
      ),
    )
    .orderBy(asc(certificateImportProblems.id))
    .limit(params.limit);
}
