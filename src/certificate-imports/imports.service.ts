import { createHash, randomUUID, type Hash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Database, Queryable } from '../db/client';
import type { Clock } from '../clock';
import { DEFAULT_IMPORT_MAX_MIB } from '../config';
import type { Principal } from '../auth/principal';
import { actorOf } from '../auth/principal';
import { appendAuditEntry } from '../audit/audit.queries';
import { canonicalJson } from '../crypto/canonical-json';
import { AppError, forbidden, isDatabaseUnavailable, notFound } from '../errors';
import { loggableError } from '../shared/loggable-error';
import { fieldErrors } from '../http/openapi';
import { lockIssuer } from '../issuers/issuers.queries';
import { isUuid } from '../shared/identifiers';
import { findUnstorableText, storableText } from '../shared/text';
import type {
  CertificateImportRow,
  ImportFormat,
  ImportStatus,
} from '../db/schema/certificate-imports';
import { credentialSubjectOf, type SignedCertificateContent } from '../certificates/credential';
import {
  IssueCertificateBody,
  type IssueCertificateInput,
} from '../certificates/certificates.schemas';
import type { CertificatesService } from '../certificates/certificates.service';
import { findIssuerCertificatesByNumbers } from '../certificates/certificates.queries';
import { ImportRunner } from './import-runner';
import { receivedRows, tooLarge } from './import-formats';
import * as q from './imports.queries';

/** Rows staged per insert while a body arrives. */
const STAGE_ROWS = 1_000;

/**
 * How an upload may pace itself. The staging transaction waits on the client between its
 * statements, for as long as the body takes to arrive: it may stay idle as long as a request may
 * last (the listener's 300 s, and a margin, so that the listener's 408 comes first). A pause of
 * `stallMs` with no byte ends the upload with 408 at once. (With the session's own limit of a few
 * seconds, an upload that paused 7 s was answered 503 "database not reachable" by the database
 * ending the session: an outside probe.)
 */
export const UPLOAD_PACE = { stallMs: 60_000, idleInTransactionMs: 310_000 } as const;

/**
 * Uploads received at once by one instance: each holds a database connection until its body has
 * arrived (minutes on a slow link), so a few slow uploads must not take the pool the rest of the
 * service answers from (20 connections). Past it: 429, to be sent again shortly (with its
 * Idempotency-Key, safely).
 */
export const MAX_UPLOADS_RECEIVING = 4;
/** Rows worked through per transaction: one signer lookup and one insert of each kind per chunk. */
const DEFAULT_CHUNK_ROWS = 1_000;

export interface ImportView {
  importId: string;
  status: ImportStatus;
  format: ImportFormat;
  dryRun: boolean;
  rows: number;
  imported: number;
  unchanged: number;
  failed: number;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  report: string;
}

export interface CertificateImportsOptions {
  db: Database;
  clock: Clock;
  certificates: CertificatesService;
  baseUrl: string;
  maxBytes?: number;
  chunkRows?: number;
  /** Tests shorten it. */
  uploadPace?: { stallMs: number; idleInTransactionMs: number };
  /** Default {@link MAX_UPLOADS_RECEIVING}. */
  maxUploadsReceiving?: number;
  logger?: Logger | undefined;
}

/** A certificate's content as it is signed (the credential's subject), comparable as text. */
const contentOf = (c: SignedCertificateContent) => canonicalJson(credentialSubjectOf(c));

const contentOfInput = (input: IssueCertificateInput) =>
  contentOf({
    ...input,
    manufacturer: input.manufacturer ?? null,
    quantity: input.quantity ?? null,
    purpose: input.purpose ?? null,
  });

/** The fields (of the SPEC's shape) in which two contents differ. */
function differingFields(a: string, b: string): string[] {
  const left = (JSON.parse(a) as { certificate: Record<string, unknown> }).certificate;
  const right = (JSON.parse(b) as { certificate: Record<string, unknown> }).certificate;
  const keys = new Set([...Object.keys(left), ...Object.keys(right)]);
  return [...keys].filter(
    (k) => canonicalJson(left[k] ?? null) !== canonicalJson(right[k] ?? null),
  );
}

/**
 * Bulk import of certificates (SPEC "Bulk import", issue 13). The body is received whole into a
 * staging table (streamed, so its size is bounded by the limit, not by memory) in one transaction:
 * an import exists only once all its rows are there. A background job then works through the rows
 * a chunk at a time, each chunk one transaction that issues its new certificates exactly as
 * `POST /v1/certificates` does (CertificatesService.issueInTransaction: status list entries, the
 * signed credential, the audit entry), reports its bad and conflicting rows, and moves the job's
 * counters and position. Idempotent per issuer and number: a row whose certificate is there with
 * the same content is `unchanged`; with other content it is a conflict in the report, never an
 * overwrite. A dry run judges every row the same way and writes no certificate.
 */
export class CertificateImportsService {
  readonly runner: ImportRunner;
  readonly maxBytes: number;
  private readonly chunkRows: number;
  private sweeper: NodeJS.Timeout | undefined;
  /** Uploads whose staging transaction is open in this instance. */
  private receiving = 0;

  /** How many uploads this instance is receiving now. */
  get uploadsReceiving(): number {
    return this.receiving;
  }

  constructor(private readonly options: CertificateImportsOptions) {
    this.maxBytes = options.maxBytes ?? DEFAULT_IMPORT_MAX_MIB * 1024 * 1024;
    this.chunkRows = options.chunkRows ?? DEFAULT_CHUNK_ROWS;
    this.runner = new ImportRunner(
      options.db,
      (id) => this.work(id),
      (id, reason) => this.finish(id, 'failed', reason),
      { logger: options.logger },
    );
  }

  private get db() {
    return this.options.db;
  }

  /**
   * Receives an import: checks the issuer, stages every row, answers at once; the job starts in
   * the background. A body over the limit (declared or counted), not UTF-8, or with a bad CSV
   * header leaves nothing behind.
   *
   * The receipt is what the staging transaction itself wrote (no read after its commit, which a
   * database fault could turn into a 503 for an import that exists). With an `Idempotency-Key`
   * (draft-ietf-httpapi-idempotency-key-header), an upload sent again — its answer lost, or a 503
   * whatever its cause — is answered with the import received under that key, as customs replays
   * a declaration by its number: the same issuer, key, body, format and mode; anything else under
   * the key is refused (422), and an upload still being received under it is a 409.
   */
  async receive(
    principal: Principal,
    request: {
      format: ImportFormat;
      dryRun: boolean;
      body: AsyncIterable<Uint8Array> | null;
      declaredBytes?: number | undefined;
      idempotencyKey?: string | undefined;
    },
  ): Promise<ImportView> {
    const issuerId = principal.issuerId;
    if (!issuerId) throw forbidden('only an issuer key can import certificates');
    await this.options.certificates.issuingIssuer(this.db, issuerId);
    if (request.declaredBytes !== undefined && request.declaredBytes > this.maxBytes)
      throw tooLarge(this.maxBytes);
    if (!request.body) throw new AppError('malformed_import', 'the import has no rows');
    const body = request.body;
    const idempotencyKey = request.idempotencyKey;
    const id = randomUUID();
    const actor = actorOf(principal);
    const pace = this.options.uploadPace ?? UPLOAD_PACE;
    if (this.receiving >= (this.options.maxUploadsReceiving ?? MAX_UPLOADS_RECEIVING))
      throw new AppError(
        'rate_limited',
        'other imports are being received here; send this one again shortly',
      );
    this.receiving += 1;
    const outcome = await this.db
      .transaction(async (tx) => {
        await q.allowIdleInTransaction(tx, pace.idleInTransactionMs);
        if (idempotencyKey !== undefined) {
          if (!(await q.tryLockIdempotencyKey(tx, { issuerId, idempotencyKey })))
            throw new AppError(
              'idempotency_key_in_use',
              'an upload with this Idempotency-Key is still being received; send it again once that one is answered',
            );
          const earlier = await q.findImportByIdempotencyKey(tx, { issuerId, idempotencyKey });
          if (earlier) return { sentBefore: true as const, row: earlier };
        }
        await q.insertImport(tx, {
          id,
          issuerId,
          apiKeyId: actor.keyId,
          actorRole: actor.role,
          format: request.format,
          dryRun: request.dryRun,
          status: 'queued',
          rows: 0,
          bytes: 0,
          createdAt: this.options.clock.now(),
          idempotencyKey: idempotencyKey ?? null,
        });
        const digest = createHash('sha256');
        let bytes = 0;
        let rows = 0;
        let staged: { row: number; content: string | null; problem: string | null }[] = [];
        const received = receivedRows(request.format, digested(paced(body, pace.stallMs), digest), {
          maxBytes: this.maxBytes,
          onBytes: (n) => (bytes = n),
        });
        for await (const row of received) {
          staged.push(row);
          rows += 1;
          if (staged.length >= STAGE_ROWS) {
            await q.insertRows(tx, id, staged);
            staged = [];
          }
        }
        await q.insertRows(tx, id, staged);
        if (rows === 0) throw new AppError('malformed_import', 'the import has no rows');
        const bodyDigest = digest.digest('base64url');
        return {
          sentBefore: false as const,
          row: await q.setReceived(tx, { id, rows, bytes, bodyDigest }),
        };
      })
      .finally(() => {
        this.receiving -= 1;
      });
    if (outcome.sentBefore) return this.replay(outcome.row, { ...request, body });
    // Written before the job starts: the answer says `queued`, whatever the job does next.
    const receipt = this.view(outcome.row);
    void this.runner.run(id);
    return receipt;
  }

  /**
   * An upload sent again under the `Idempotency-Key` of an import already received: answered with
   * that import as it stands now, when it is the same upload (body, format, dry run or not).
   */
  private async replay(
    earlier: CertificateImportRow,
    request: { format: ImportFormat; dryRun: boolean; body: AsyncIterable<Uint8Array> },
  ): Promise<ImportView> {
    const digest = createHash('sha256');
    let bytes = 0;
    for await (const chunk of request.body) {
      bytes += chunk.byteLength;
      if (bytes > this.maxBytes) throw tooLarge(this.maxBytes);
      digest.update(chunk);
    }
    if (
      earlier.format !== request.format ||
      earlier.dryRun !== request.dryRun ||
      earlier.bodyDigest !== digest.digest('base64url')
    )
      throw new AppError(
        'idempotency_key_reused',
        'this Idempotency-Key was sent with another upload (other rows, format or dryRun); a new import needs a new key',
      );
    return this.view(earlier);
  }

  /** An import's progress: its issuer's only (to anyone else it does not exist). */
  async get(principal: Principal, id: string): Promise<ImportView> {
    return this.view(await this.ownImport(principal, id));
  }

  /**
   * The import's report as CSV (`row,number,field,problem`), streamed a page at a time. Cells
   * that a spreadsheet would run as a formula are quoted with a leading apostrophe (OWASP CSV
   * injection): the report carries text the importer's file supplied.
   */
  async report(principal: Principal, id: string): Promise<AsyncIterable<string>> {
    const found = await this.ownImport(principal, id);
    const db = this.db;
    return (async function* () {
      yield 'row,number,field,problem\r\n';
      let afterId = 0;
      for (;;) {
        const page = await q.reportPage(db, { importId: found.id, afterId, limit: 1_000 });
        if (page.length > 0)
          yield (
            page
              .map((p) =>
                [String(p.row), p.number ?? '', p.field, p.problem].map(csvCell).join(','),
              )
              .join('\r\n') + '\r\n'
          );
        if (page.length < 1_000) return;
        afterId = page[page.length - 1]!.id;
      }
    })();
  }

  /** Imports not ended and not run by a live process are taken up (`olderThan`: created before). */
  async resumeUnfinished(options: { createdBefore?: Date } = {}): Promise<number> {
    const ids = await q.unfinishedImportIds(this.db, options);
    for (const id of ids) void this.runner.run(id);
    return ids.length;
  }

  /**
   * Resumes unfinished imports now, then sweeps every `everyMs` until close: an import whose
   * process died is taken over by a live instance (the job's advisory lock makes sweeping on every
   * instance safe). Imports younger than one interval are left to
   * the process that received them.
   */
  async keepImportsMoving(everyMs = 5_000): Promise<number> {
    const resumed = await this.resumeUnfinished();
    this.sweeper = setInterval(() => {
      this.resumeUnfinished({
        createdBefore: new Date(this.options.clock.now().getTime() - everyMs),
      }).catch((error: unknown) => {
        // The database is away: the next sweep tries again.
        if (!isDatabaseUnavailable(error))
          this.options.logger?.error({ err: loggableError(error) }, 'import sweep failed');
      });
    }, everyMs);
    this.sweeper.unref();
    return resumed;
  }

  /** Stops sweeping, and each job after its current chunk (resumed at the next start). */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await this.runner.stop();
  }

  /** Resolves when every import job of this process has stopped (tests, shutdown). */
  whenIdle(): Promise<void> {
    return this.runner.idle();
  }

  private async ownImport(principal: Principal, id: string): Promise<CertificateImportRow> {
    const found = isUuid(id) ? await q.findImport(this.db, id) : undefined;
    if (!found || !principal.issuerId || found.issuerId !== principal.issuerId)
      throw notFound('import');
    return found;
  }

  private view(row: CertificateImportRow): ImportView {
    return {
      importId: row.id,
      status: row.status,
      format: row.format,
      dryRun: row.dryRun,
      rows: row.rows,
      imported: row.imported,
      unchanged: row.unchanged,
      failed: row.failed,
      error: row.error,
      createdAt: row.createdAt.toISOString(),
      startedAt: row.startedAt?.toISOString() ?? null,
      finishedAt: row.finishedAt?.toISOString() ?? null,
      report: `${this.options.baseUrl}/v1/certificates/imports/${row.id}/report.csv`,
    };
  }

  /** The job: chunk after chunk until no row is left (or the issuer may no longer issue). */
  private async work(id: string): Promise<void> {
    const found = await q.findImport(this.db, id);
    if (!found || (found.status !== 'queued' && found.status !== 'running')) return;
    if (found.status === 'queued')
      await q.startImport(this.db, { id, at: this.options.clock.now() });
    for (;;) {
      const outcome = await this.db.transaction((tx) => this.importChunk(tx, id));
      if (outcome === 'more') {
        if (this.runner.stopping) return;
        // Let requests run between chunks.
        await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      if (outcome === 'done') await this.finish(id, 'done', null);
      else await this.finish(id, 'failed', outcome.stopped);
      return;
    }
  }

  /** One chunk, in the caller's transaction: judged, issued, reported, counted. */
  private async importChunk(
    tx: Queryable,
    id: string,
  ): Promise<'more' | 'done' | { stopped: string }> {
    const job = await q.lockImport(tx, id);
    if (!job || job.status !== 'running') return 'done';
    const staged = await q.nextRows(tx, {
      importId: id,
      afterRow: job.lastRow,
      limit: this.chunkRows,
    });
    if (staged.length === 0) return 'done';
    // Under a share lock, as a single issuance: a suspension or a key's compromise in flight is
    // waited for and seen (CertificatesService.issuingIssuer).
    const issuer = await lockIssuer(tx, job.issuerId, 'read');
    if (!issuer || issuer.status !== 'active')
      return { stopped: 'the issuer was suspended while the import ran; it may not issue' };

    const problems: q.ImportProblem[] = [];
    let failed = 0;
    let unchanged = 0;
    const candidates: { row: number; input: IssueCertificateInput; content: string }[] = [];
    for (const { row, content, problem } of staged) {
      const judged = judgeRow(content, problem, issuer.schemes);
      if ('problems' in judged) {
        problems.push(...judged.problems.map((p) => ({ row, number: judged.number, ...p })));
        failed += 1;
      } else candidates.push({ row, input: judged.input, content: contentOfInput(judged.input) });
    }

    // What each number holds already: the issuer's certificate, or (a dry run) what an earlier row
    // would have imported; a number that appears twice in the file meets its first row here.
    const numbers = [...new Set(candidates.map((c) => c.input.number))];
    const before = new Map<string, string>();
    for (const c of await findIssuerCertificatesByNumbers(tx, { issuerId: issuer.id, numbers }))
      before.set(c.number, contentOf(c));
    if (job.dryRun)
      for (const [n, c] of await q.dryRunContents(tx, { importId: id, numbers })) before.set(n, c);
    const judgeAgainst = (c: (typeof candidates)[number], existing: string) => {
      if (existing === c.content) {
        unchanged += 1;
        return;
      }
      failed += 1;
      for (const field of differingFields(existing, c.content))
        problems.push({
          row: c.row,
          number: c.input.number,
          field,
          problem: `conflict: differs from certificate ${c.input.number} as already issued; not overwritten`,
        });
    };
    const toIssue: typeof candidates = [];
    for (const c of candidates) {
      const existing = before.get(c.input.number);
      if (existing !== undefined) judgeAgainst(c, existing);
      else {
        toIssue.push(c);
        before.set(c.input.number, c.content);
      }
    }

    let imported = 0;
    if (job.dryRun) {
      await q.insertDryRunNumbers(
        tx,
        id,
        toIssue.map((c) => ({ number: c.input.number, content: c.content })),
      );
      imported = toIssue.length;
    } else if (toIssue.length > 0) {
      const { issued, taken } = await this.options.certificates.issueInTransaction(
        tx,
        {
          issuer,
          signer: await this.options.certificates.currentSigner(tx, issuer.id),
          actor: { keyId: job.apiKeyId, role: job.actorRole ?? 'issuer' },
          at: this.options.clock.now(),
          importId: id,
        },
        toIssue.map((c) => c.input),
      );
      imported = issued.length;
      if (taken.length > 0) {
        // Issued by another request while this chunk ran: judged against what that one wrote.
        const written = await findIssuerCertificatesByNumbers(tx, {
          issuerId: issuer.id,
          numbers: taken.map((t) => t.number),
        });
        const byNumber = new Map(written.map((c) => [c.number, contentOf(c)]));
        const takenInputs = new Set(taken);
        for (const c of toIssue)
          if (takenInputs.has(c.input)) judgeAgainst(c, byNumber.get(c.input.number) ?? '');
      }
    }
    problems.sort((a, b) => a.row - b.row);
    await q.insertProblems(tx, id, problems);
    await q.advanceImport(tx, {
      id,
      lastRow: staged[staged.length - 1]!.row,
      imported,
      unchanged,
      failed,
    });
    return staged.length < this.chunkRows ? 'done' : 'more';
  }

  /** Ends the import (once), audited unless it was a dry run (which writes nothing). */
  private async finish(id: string, status: 'done' | 'failed', error: string | null) {
    const at = this.options.clock.now();
    await this.db.transaction(async (tx) => {
      const ended = await q.endImport(tx, { id, status, at, error });
      if (!ended || ended.dryRun) return;
      await appendAuditEntry(tx, at, {
        actor: { keyId: ended.apiKeyId, role: ended.actorRole ?? 'issuer' },
        action: status === 'done' ? 'certificate.import.done' : 'certificate.import.failed',
        subjectType: 'certificate_import',
        subjectId: id,
        change: {
          rows: ended.rows,
          imported: ended.imported,
          unchanged: ended.unchanged,
          failed: ended.failed,
          ...(error ? { error } : {}),
        },
      });
    });
  }
}

/** A staged row judged on its own: the certificate it asks for, or its problems. */
function judgeRow(
  content: string | null,
  problem: string | null,
  schemes: readonly string[],
):
  | { input: IssueCertificateInput }
  | { number: string | null; problems: { field: string; problem: string }[] } {
  if (content === null) return { number: null, problems: [{ field: '(row)', problem: problem! }] };
  let value: unknown;
  try {
    value = JSON.parse(content);
  } catch {
    return { number: null, problems: [{ field: '(row)', problem: 'not valid JSON' }] };
  }
  // What the report keeps of a refused row is stored text too: the number it claims and the
  // validator's words (which may quote the row's own field names) lose what PostgreSQL cannot hold.
  const claimed = (value as { number?: unknown } | null)?.number;
  const number = typeof claimed === 'string' ? storableText(claimed.slice(0, 64)) : null;
  const parsed = IssueCertificateBody.safeParse(value);
  if (!parsed.success)
    return {
      number,
      problems: fieldErrors(parsed.error.issues).map((e) => ({
        field: storableText(e.path === '(body)' ? '(row)' : e.path),
        problem: storableText(e.message),
      })),
    };
  // The floor every request body clears (src/shared/text.ts), as for POST /v1/certificates.
  const unstorable = findUnstorableText(parsed.data);
  if (unstorable)
    return {
      number,
      problems: [
        { field: storableText(unstorable.path.join('.')) || '(row)', problem: unstorable.message },
      ],
    };
  if (!schemes.includes(parsed.data.scheme))
    return {
      number,
      problems: [
        { field: 'scheme', problem: `the issuer is not approved for ${parsed.data.scheme}` },
      ],
    };
  return { input: parsed.data };
}

/** The body as it arrives, each chunk added to `digest` on its way. */
async function* digested(
  body: AsyncIterable<Uint8Array>,
  digest: Hash,
): AsyncGenerator<Uint8Array> {
  for await (const chunk of body) {
    digest.update(chunk);
    yield chunk;
  }
}

/**
 * The body's chunks, ended with 408 when none arrives for `stallMs` (the client stopped sending
 * but keeps the connection open).
 */
async function* paced(
  body: AsyncIterable<Uint8Array>,
  stallMs: number,
): AsyncGenerator<Uint8Array> {
  const chunks = body[Symbol.asyncIterator]();
  let done = false;
  try {
    for (;;) {
      const next = chunks.next();
      let timer: NodeJS.Timeout | undefined;
      const stalled = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new AppError(
                'request_timeout',
                `the upload stalled: no bytes for ${Math.round(stallMs / 1000)} s`,
              ),
            ),
          stallMs,
        );
      });
      // A chunk that comes after the stall is given up on is never read: no unhandled rejection.
      next.catch(() => {});
      const result = await Promise.race([next, stalled]).finally(() => clearTimeout(timer));
      if (result.done) {
        done = true;
        return;
      }
      yield result.value;
    }
  } finally {
    // Given up on (a stall, a bad row, a limit): the body is released, not left half-read.
    if (!done) void chunks.return?.()?.catch(() => {});
  }
}

/** A CSV cell (RFC 4180), a would-be formula defused with a leading apostrophe. */
function csvCell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}
