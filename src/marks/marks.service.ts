import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Database, Queryable } from '../db/client';
import type { MarkBatchRow } from '../db/schema/mark-batches';
import { changeTime, type Clock } from '../clock';
import type { Principal, Actor } from '../auth/principal';
import { actorOf, systemActor } from '../auth/principal';
import { appendAuditEntry } from '../audit/audit.queries';
import { createMarkCode } from '../crypto/mark-code';
import { hasValidSerialCheckDigits } from '../crypto/serial';
import { AppError, forbidden, notFound } from '../errors';
import { effectiveStatus } from '../certificates/certificate-view';
import { findCertificate, lockCertificate } from '../certificates/certificates.queries';
import { modelInScope } from '../certificates/scope';
import { findCurrentSigningKey, findSigningKey, lockIssuer } from '../issuers/issuers.queries';
import type { KeyVault } from '../issuers/key-vault';
import type { StatusListsService } from '../status-lists/status-lists.service';
import type { MarkSerialCipher } from '../crypto/mark-serial-cipher';
import { BatchMarks } from './batch-marks';
import { labelSheetSvg, LABELS_PER_PAGE } from './label-sheet';
import { LabelPdf, type PdfLabel } from './label-pdf';
import { labelStocks, labelsPerPage, type LabelStockName } from './label-stocks';
import { markQrPng, markQrSvg } from './mark-qr';
import { MarkSignerPool, type MarkSignerPoolOptions } from './mark-signer-pool';
import * as batches from './batches.queries';
import * as oneMark from './mark.queries';
import { serialText } from './mark.queries';
import * as scanLog from './scan-log.queries';
import { recordEvent } from '../subscriptions/outbox';
import { chinaDays, startOfChinaDay } from '../shared/dates';

export interface IssueBatchInput {
  count: number;
  model?: string | undefined;
  lot?: string | undefined;
}

export interface BatchView {
  batchId: string;
  certificateId: string;
  count: number;
  done: number;
  status: MarkBatchRow['status'];
  model: string | null;
  lot: string | null;
  createdAt: string;
  finishedAt: string | null;
  links: { self: string; marks: string; labels: string; labelsPdf: string; statusList?: string };
}

export interface MarksServiceDeps {
  db: Database;
  vault: KeyVault;
  clock: Clock;
  /** PUBLIC_BASE_URL: mark URLs are `{baseUrl}/m/{code}`. */
  baseUrl: string;
  /** Each batch's W3C status list, whose bits say which marks are void. */
  statusLists: StatusListsService;
  /** Makes a numbered batch's serials and locates a serial's batch and position. */
  serials: MarkSerialCipher;
  logger?: Logger | undefined;
  signer?: MarkSignerPoolOptions;
}

/** A day's checks are final this long after the day ends (the scan log flushes in seconds). */
const SETTLED_AFTER_MS = 3_600_000;

/** Older serials read per transaction while upgrading (see upgradeSerials). */
const UPGRADE_CHUNK = 10_000;

/** Positions beyond any batch's last (an older batch's positions may pass its count by a few). */
const PAST_ANY_POSITION = 2_000_000_000;

/** Marks per page when a batch is exported (each page is signed on the worker threads). */
const EXPORT_PAGE = 10_000;

/**
 * Marks read at a time for a label PDF: 60 sheets of 28. Their QR codes (~2 MB of rectangles) are
 * encoded on the workers while the previous ones are drawn.
 */
const LABEL_READ = 1_680;

export interface LabelPdfRequest {
  stock: LabelStockName;
  /** First position (1-based, in issuance order) to print; default the batch's first. */
  from?: number | undefined;
  /** Last position to print, inclusive; default the batch's last. */
  to?: number | undefined;
}

/**
 * Product marks: issuing batches of signed serialized QR labels for a certificate, exporting and
 * printing them, voiding one, its scan log, and clearing a suspected clone. Verifying a mark is
 * verification's (../verification/mark-verification.service).
 */
export class MarksService {
  /** Checks per day of days that have settled (see dailyChecks). */
  readonly #settledDailyChecks = new Map<string, scanLog.DailyChecks>();
  private readonly db: Database;
  private readonly clock: Clock;
  private readonly baseUrl: string;
  private readonly serials: MarkSerialCipher;
  private readonly batchMarks: BatchMarks;
  private readonly signer: MarkSignerPool;

  constructor(private readonly deps: MarksServiceDeps) {
    this.db = deps.db;
    this.clock = deps.clock;
    this.baseUrl = deps.baseUrl;
    this.serials = deps.serials;
    this.batchMarks = new BatchMarks(deps.db, deps.serials);
    this.signer = new MarkSignerPool(deps.signer);
  }

  markUrl(code: string): string {
    return `${this.baseUrl}/m/${code}`;
  }

  // -------------------------------------------------------------------------------------------
  // Issuing
  // -------------------------------------------------------------------------------------------

  /**
   * The certificate's issuer orders `count` marks. The batch is recorded with its number, status
   * list and audit entry in one transaction, and that is all: its marks' serials follow from the
   * number, so every mark exists (and verifies) from the commit on, a million as soon as one.
   */
  async issueBatch(
    principal: Principal,
    certificateId: string,
    input: IssueBatchInput,
  ): Promise<BatchView> {
    const at = this.clock.now();
    const batch = await this.db.transaction(async (tx) => {
      const seen = await findCertificate(tx, certificateId);
      if (!seen) throw notFound('certificate');
      if (seen.certificate.issuerId !== principal.issuerId) {
        throw forbidden('only the issuing body may issue marks for this certificate');
      }
      // Read again under share locks, the issuer's first (the order their own changes take): a
      // suspension, a key's rotation or compromise, or the certificate's status change in flight
      // is waited for and seen, and none begins until the batch commits. Read without them, a
      // batch could be ordered after its issuer's suspension answered, or under a key being
      // declared compromised (every mark of it then dead).
      // An exemption's batches are counted against its quantity: its row is held for a change, so
      // two batches at once are counted one after the other.
      const exemption = seen.certificate.scheme === 'CCC_EXEMPTION';
      const issuer = await lockIssuer(tx, seen.certificate.issuerId, 'read');
      const certificate = await lockCertificate(tx, certificateId, exemption ? 'change' : 'read');
      if (!issuer || !certificate) throw notFound('certificate');
      const found = { certificate, issuer };
      if (found.issuer.status !== 'active') {
        throw new AppError('issuer_suspended', 'a suspended issuer cannot issue marks');
      }
      const status = effectiveStatus(found.certificate, at);
      if (status !== 'valid') {
        throw new AppError(
          'certificate_not_valid',
          `the certificate is ${status.replaceAll('_', ' ')}: no marks can be issued for it`,
        );
      }
      if (input.model !== undefined && !modelInScope(found.certificate.scope, input.model)) {
        throw new AppError(
          'model_out_of_scope',
          `model ${input.model} is not covered by this certificate`,
          {
            errors: [{ path: 'model', message: 'not in the certificate’s scope' }],
          },
        );
      }
      if (exemption) {
        const issued = await batches.marksIssuedFor(tx, certificateId);
        const quantity = found.certificate.quantity ?? 0;
        if (issued + input.count > quantity)
          throw new AppError(
            'quantity_exceeded',
            `the exemption covers ${quantity} units and ${issued} marks are issued for it: at most ${Math.max(0, quantity - issued)} more`,
            { errors: [{ path: 'count', message: `at most ${Math.max(0, quantity - issued)}` }] },
          );
      }
      const key = await findCurrentSigningKey(tx, found.issuer.id);
      if (!key)
        throw new AppError(
          'no_signing_key',
          'the issuer has no current signing key; rotate its key',
        );
      const number = await batches.nextBatchNumber(tx);
      if (number === undefined) {
        throw new AppError(
          'service_starting',
          'mark serials are being upgraded after an update; issue the batch again shortly',
          { retryAfterSeconds: 5 },
        );
      }
      const row = await batches.insertBatch(tx, {
        id: randomUUID(),
        number,
        certificateId,
        issuerId: found.issuer.id,
        kid: key.kid,
        count: input.count,
        done: input.count,
        model: input.model ?? null,
        lot: input.lot ?? null,
        status: 'done',
        createdByKeyId: principal.keyId,
        createdAt: at,
        finishedAt: at,
      });
      await this.deps.statusLists.createBatchList(tx, {
        batchId: row.id,
        issuerId: found.issuer.id,
        count: input.count,
        at,
      });
      await appendAuditEntry(tx, at, {
        actor: actorOf(principal),
        action: 'mark.batch.create',
        subjectType: 'mark_batch',
        subjectId: row.id,
        change: {
          certificateId,
          count: input.count,
          model: input.model ?? null,
          lot: input.lot ?? null,
          kid: key.kid,
          number,
        },
      });
      return row;
    });
    return this.batchView(batch);
  }

  async getBatch(principal: Principal, batchId: string): Promise<BatchView> {
    return this.batchView(await this.ownedBatch(principal, batchId));
  }

  /**
   * Gives every batch issued before status lists its list, with the bits of its voided marks set.
   * Call once at start; returns how many batches got one.
   */
  async giveBatchesStatusLists(): Promise<number> {
    let given = 0;
    for (;;) {
      const batches = await this.deps.statusLists.batchesWithoutList(100);
      for (const batch of batches) {
        await this.db.transaction((tx) => this.giveBatchStatusList(tx, batch.id, this.clock.now()));
      }
      given += batches.length;
      if (batches.length < 100) return given;
    }
  }

  /**
   * Once after an update to positional serials: reads every serial of the older batches (one row
   * per mark, random serials) and records the batch numbers they locate into, which are then never
   * given, so a new mark can never share a serial with an old one; then numbers the older batches
   * whose fill had not finished. Batches are issued once this is done (a database that had no marks
   * is done from the start). Safe on several instances at once: each chunk holds the progress row.
   * Returns how many older serials were read.
   */
  async upgradeSerials(): Promise<number> {
    let read = 0;
    for (;;) {
      const finished = await this.db.transaction(async (tx) => {
        const progress = await batches.lockSerialsUpgrade(tx);
        if (!progress || progress.done) return true;
        const older = await batches.olderSerialsAfter(tx, {
          after: progress.through,
          limit: UPGRADE_CHUNK,
        });
        read += older.length;
        await batches.takeBatchNumbers(tx, {
          numbers: this.serials.locateAll(older.map(serialText)).map((l) => l.batchNumber),
          through: older.at(-1) ?? progress.through,
          done: older.length < UPGRADE_CHUNK,
        });
        return older.length < UPGRADE_CHUNK;
      });
      if (finished) break;
    }
    for (const id of await batches.unfinishedOlderBatchIds(this.db)) {
      await this.db.transaction(async (tx) => {
        const number = await batches.nextBatchNumber(tx);
        const at = this.clock.now();
        if (number !== undefined && (await batches.numberUnfinishedBatch(tx, { id, number, at }))) {
          // The rows its fill wrote went, voided ones too: its list must not say void of the
          // positional marks now at their places (offline verifiers and bundles read the bits).
          await this.deps.statusLists.clearBatchList(tx, { batchId: id, at });
          await appendAuditEntry(tx, at, {
            actor: systemActor,
            action: 'mark.batch.number',
            subjectType: 'mark_batch',
            subjectId: id,
            change: { number },
          });
        }
      });
    }
    return read;
  }

  // -------------------------------------------------------------------------------------------
  // Exporting and printing (owning issuer only: whoever holds a code can print copies)
  // -------------------------------------------------------------------------------------------

  /**
   * A done batch's marks as NDJSON (`{"serial","code","url"}` a line) or CSV, streamed page by page
   * (keyset on the issuance order) and signed on the fly: memory stays flat for a million marks.
   */
  async exportBatch(
    principal: Principal,
    batchId: string,
    format: 'ndjson' | 'csv',
  ): Promise<ReadableStream<Uint8Array>> {
    const batch = await this.ownedBatch(principal, batchId);
    const seed = await this.readyBatchSeed(batch);
    const render = { format, baseUrl: this.baseUrl };
    const fetchPage = (after: number) =>
      this.batchMarks.after(batch, after, PAST_ANY_POSITION, EXPORT_PAGE);
    let nextPage = fetchPage(0);
    let headerPending = format === 'csv';
    return new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          const page = await nextPage;
          if (page.length === 0) {
            controller.close();
            return;
          }
          // Read the next page while this one is signed.
          nextPage = fetchPage(page[page.length - 1]!.position);
          nextPage.catch(() => {});
          if (headerPending) {
            controller.enqueue(new TextEncoder().encode('serial,code,url\r\n'));
            headerPending = false;
          }
          const parts = await this.signer.render(
            seed,
            batch.kid,
            page.map((m) => m.serial),
            render,
          );
          for (const part of parts) controller.enqueue(part);
        },
      },
      { highWaterMark: 1 },
    );
  }

  /** One A4 page (1-based) of a done batch's labels, as SVG. */
  async labelSheet(
    principal: Principal,
    batchId: string,
    page: number,
  ): Promise<{ svg: string; page: number; pages: number }> {
    const batch = await this.ownedBatch(principal, batchId);
    const seed = await this.readyBatchSeed(batch);
    const pages = Math.max(1, Math.ceil(batch.done / LABELS_PER_PAGE));
    if (page > pages) throw notFound(`page ${page} (the batch has ${pages})`);
    const [onPage, found] = await Promise.all([
      this.batchMarks.page(batch, page, LABELS_PER_PAGE),
      findCertificate(this.db, batch.certificateId),
    ]);
    // A void mark's code is not printed (the sheet strikes it, as the PDF does): not even signed.
    const active = onPage.filter((mark) => mark.status === 'active').map((mark) => mark.serial);
    const codes = await this.signer.sign(seed, batch.kid, active);
    let next = 0;
    const lot = batch.lot ? ` · lot ${batch.lot}` : '';
    const model = batch.model ? ` · ${batch.model}` : '';
    return {
      svg: labelSheetSvg({
        labels: onPage.map(({ serial, status }) => ({
          serial,
          url: status === 'active' ? this.markUrl(codes[next++]!) : undefined,
        })),
        certificateLine: `${found!.certificate.scheme} ${found!.certificate.number}`,
        footer: `certmark · ${found!.issuer.name} · batch ${batch.id}${model}${lot} · page ${page}/${pages}`,
      }),
      page,
      pages,
    };
  }

  /**
   * A done batch's labels (or those at positions `from` to `to`) as one PDF on a named label
   * stock, streamed page by page: marks are read in keyset pages, signed and QR-encoded on the
   * worker threads, and a page is drawn only when whoever reads the stream has taken the previous
   * bytes, so a million marks print in flat memory at the reader's pace. Void marks keep their
   * place, struck through (./label-pdf).
   */
  async labelPdf(
    principal: Principal,
    batchId: string,
    request: LabelPdfRequest,
  ): Promise<{ stream: ReadableStream<Uint8Array>; pages: number; from: number; to: number }> {
    const batch = await this.ownedBatch(principal, batchId);
    const seed = await this.readyBatchSeed(batch);
    const last = await this.batchMarks.lastPosition(batch);
    const from = request.from ?? 1;
    const to = request.to ?? last;
    // Refused rather than clipped: a range past the end is a mistake in what the printer meant.
    const rangeError = (name: 'from' | 'to', message: string) =>
      new AppError('label_range_invalid', `${name} is ${message}`, {
        errors: [{ path: `query.${name}`, message }],
      });
    if (from > last) throw rangeError('from', `after the batch’s last position, ${last}`);
    if (to > last) throw rangeError('to', `after the batch’s last position, ${last}`);
    if (from > to) throw rangeError('to', `before from (${from})`);
    const stock = labelStocks[request.stock];
    const perPage = labelsPerPage(stock);
    const [marksInRange, found] = await Promise.all([
      this.batchMarks.countBetween(batch, from, to),
      findCertificate(this.db, batch.certificateId),
    ]);
    const pages = Math.max(1, Math.ceil(marksInRange / perPage));
    const certificateLine = `${found!.certificate.scheme} ${found!.certificate.number}`;
    const pdf = new LabelPdf({
      stock,
      certificateLine,
      title: `Labels of mark batch ${batch.id}, positions ${from}–${to}`,
    });
    const footer = (labels: readonly { position: number }[]) =>
      [
        `certmark · batch ${batch.id}`,
        certificateLine,
        labels.length > 0
          ? `positions ${labels[0]!.position}–${labels[labels.length - 1]!.position}`
          : 'no marks',
        `page ${pdf.pageCount + 1} of ${pages}`,
      ].join(' · ');

    const readLabels = async (afterPosition: number) => {
      const rows = await this.batchMarks.after(batch, afterPosition, to, LABEL_READ);
      // A void mark's code is not printed, so it is neither signed nor encoded.
      const active = rows.filter((row) => row.status === 'active').map((row) => row.serial);
      const qrs = await this.signer.labelQrs(seed, batch.kid, active, this.baseUrl);
      let next = 0;
      return rows.map((row): PdfLabel & { position: number } => ({
        serial: row.serial,
        position: row.position,
        qr: row.status === 'active' ? qrs[next++] : undefined,
      }));
    };
    let nextRead: Promise<(PdfLabel & { position: number })[]> | undefined = readLabels(from - 1);
    nextRead.catch(() => {});
    let waiting: (PdfLabel & { position: number })[] = [];
    let taken = 0;

    const stream = new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          // Draw pages until pdfkit has written bytes (a page goes out once the next is begun).
          for (;;) {
            if (waiting.length - taken < perPage && nextRead) {
              const read = await nextRead;
              waiting = [...waiting.slice(taken), ...read];
              taken = 0;
              if (read.length === LABEL_READ) {
                nextRead = readLabels(read[read.length - 1]!.position);
                nextRead.catch(() => {});
              } else nextRead = undefined;
            }
            if (taken === waiting.length && !nextRead) {
              if (pdf.pageCount === 0) pdf.addPage([], footer([]));
              pdf.end();
              const rest = pdf.takeBytes();
              if (rest) controller.enqueue(rest);
              controller.close();
              return;
            }
            const labels = waiting.slice(taken, taken + perPage);
            taken += labels.length;
            pdf.addPage(labels, footer(labels));
            const bytes = pdf.takeBytes();
            if (bytes) {
              controller.enqueue(bytes);
              return;
            }
          }
        },
        cancel: () => {
          nextRead = undefined;
        },
      },
      { highWaterMark: 1 },
    );
    return { stream, pages, from, to };
  }

  /** One mark's QR code as SVG, holding its URL (owning issuer). */
  async markQrSvg(principal: Principal, serial: string): Promise<string> {
    return markQrSvg((await this.markCodeFor(principal, serial)).url);
  }

  /** One mark's QR code as PNG (owning issuer). */
  async markQrPng(principal: Principal, serial: string): Promise<Buffer> {
    return markQrPng((await this.markCodeFor(principal, serial)).url);
  }

  /** One mark's code and URL (owning issuer). */
  async markCodeFor(
    principal: Principal,
    serial: string,
  ): Promise<{ serial: string; code: string; url: string }> {
    assertTypedSerial(serial);
    const mark = await oneMark.findMarkWithBatch(this.db, this.located(serial));
    if (!mark) throw notFound('mark');
    if (mark.issuerId !== principal.issuerId)
      throw forbidden('only the issuing body may obtain this mark');
    // A void mark was lost, destroyed or recalled: its code is not handed out to be printed again
    // (its label on a sheet is struck out the same way).
    if (mark.status === 'void')
      throw new AppError('mark_already_void', 'the mark is void: its code is not issued again');
    const batch = (await batches.findBatch(this.db, mark.batchId))!;
    const seed = await this.readyBatchSeed(batch);
    const code = createMarkCode({ seed, kid: batch.kid, serial });
    return { serial, code, url: this.markUrl(code) };
  }

  /**
   * Where and when a mark was verified, newest first (supervisors, and the owning issuer): what a
   * clone hunt starts from. Verifications of the last ~100 ms may still be in the write buffer.
   */
  async scanHistory(
    principal: Principal,
    serial: string,
    paging: { page: number; pageSize: number },
  ) {
    assertTypedSerial(serial);
    const mark = await oneMark.findMarkWithBatch(this.db, this.located(serial));
    if (!mark) throw notFound('mark');
    if (principal.role === 'issuer' && mark.issuerId !== principal.issuerId)
      throw forbidden('only the issuing body and supervisors may see this mark’s scans');
    const { rows, total } = await scanLog.scanLogPage(this.db, {
      serial,
      limit: paging.pageSize,
      offset: (paging.page - 1) * paging.pageSize,
    });
    // Where a consumer stood is personal data: an issuer sees it to about 10 km, enough to see a
    // clone's spread; supervisors see it as recorded.
    const place =
      principal.role === 'supervisor'
        ? (degrees: number | null) => degrees
        : (degrees: number | null) => (degrees === null ? null : Math.round(degrees * 10) / 10);
    return {
      serial,
      scanCount: mark.scanCount,
      suspectedCloneSince: mark.cloneFlaggedAt?.toISOString() ?? null,
      items: rows.map((r) => ({
        at: r.at.toISOString(),
        region: r.region,
        lat: place(r.lat),
        lon: place(r.lon),
        callerRole: r.callerRole,
        channel: r.channel,
        verdict: r.verdict,
        reasons: r.reasons,
        counted: r.counted,
      })),
      page: paging.page,
      pageSize: paging.pageSize,
      total,
    };
  }

  /**
   * The latest `perMark` checks of each of `serials`, newest first, with where they were made as
   * recorded: for supervisors (the console shows a cloned mark's places and times).
   */
  async recentScans(
    principal: Principal,
    serials: readonly string[],
    perMark: number,
  ): Promise<scanLog.RecentScan[]> {
    if (principal.role !== 'supervisor') throw forbidden('only supervisors see many marks’ scans');
    return scanLog.recentScansOf(this.db, {
      serials: serials.filter((s) => /^\d{16}$/.test(s)),
      perMark,
    });
  }

  /**
   * Checks of marks per day in China Standard Time, the last `days` days up to today, every day
   * present (0 where none): the supervisor console's trend. Counting a day reads all its checks,
   * so a day that ended over an hour ago is counted once per process and remembered (nothing is
   * written into it any more: the scan log's buffer flushes within seconds); each later call reads
   * only the days since (bench/supervisor-console.ts).
   */
  async dailyChecks(principal: Principal, days: number): Promise<scanLog.DailyChecks[]> {
    if (principal.role !== 'supervisor') throw forbidden('only supervisors see the checks’ trend');
    const now = this.clock.now();
    const range = chinaDays(now, days);
    const settled = this.#settledDailyChecks;
    for (const day of settled.keys()) if (!range.days.includes(day)) settled.delete(day);
    const firstUnsettled = range.days.find((day) => !settled.has(day));
    const fresh = new Map<string, scanLog.DailyChecks>();
    if (firstUnsettled) {
      const counted = await scanLog.dailyChecks(this.db, {
        since: startOfChinaDay(firstUnsettled),
        until: range.until,
      });
      for (const d of counted) fresh.set(d.day, d);
      for (const day of range.days.slice(range.days.indexOf(firstUnsettled))) {
        const ended = startOfChinaDay(day).getTime() + 86_400_000;
        if (ended <= now.getTime() - SETTLED_AFTER_MS)
          settled.set(day, fresh.get(day) ?? { day, checks: 0, notAuthentic: 0 });
      }
    }
    return range.days.map(
      (day) => settled.get(day) ?? fresh.get(day) ?? { day, checks: 0, notAuthentic: 0 },
    );
  }

  /** The owning issuer voids a destroyed, recalled or lost mark: it verifies `invalid`/MARK_VOID. */
  async voidMark(principal: Principal, serial: string, voidReason: string) {
    assertTypedSerial(serial);
    // A mark never scanned gets its row first (harmless if the void is then refused).
    await oneMark.ensureMarkRows(this.db, [this.located(serial)]);
    const at = await this.db.transaction(async (tx) => {
      const mark = await oneMark.lockMark(tx, serial);
      if (!mark) throw notFound('mark');
      if (mark.issuerId !== principal.issuerId)
        throw forbidden('only the issuing body may void this mark');
      if (mark.status === 'void')
        throw new AppError('mark_already_void', 'the mark is already void');
      // Timed under the lock, like every status change.
      const at = this.clock.now();
      await oneMark.voidMark(tx, { serial, reason: voidReason, at });
      // The batch's status list says so in the same transaction (offline verifiers read it).
      const recorded = await this.deps.statusLists.recordMarkVoid(tx, {
        batchId: mark.batchId,
        position: mark.position,
        at,
      });
      if (!recorded) await this.giveBatchStatusList(tx, mark.batchId, at);
      await appendAuditEntry(tx, at, {
        actor: actorOf(principal),
        action: 'mark.void',
        subjectType: 'mark',
        subjectId: serial,
        change: { reason: voidReason, batchId: mark.batchId },
      });
      return at;
    });
    return { serial, status: 'void' as const, voidReason, voidedAt: at.toISOString() };
  }

  /**
   * A supervisor cleared a suspected clone (the alert resolution calls this): the flag and the
   * counting window are reset, so the mark is judged afresh from now. False when no such mark.
   */
  async clearSuspectedClone(serial: string, actor: Actor = systemActor): Promise<boolean> {
    if (!hasValidSerialCheckDigits(serial)) return false;
    return this.db.transaction(async (tx) => {
      const mark = await oneMark.lockMarkFlag(tx, serial);
      if (!mark) return false;
      // Timed under the lock: the clearing comes after the flag it clears (a scan that flags the
      // mark later is flagged no earlier than this, see REGISTER_SCANS_SQL).
      const at = changeTime(this.clock, mark.cloneFlaggedAt);
      const cleared = await oneMark.clearCloneFlag(tx, { serial, at });
      if (cleared) {
        await appendAuditEntry(tx, at, {
          actor,
          action: 'mark.clone.clear',
          subjectType: 'mark',
          subjectId: serial,
          change: { clearedAt: at.toISOString() },
        });
        const owner = await oneMark.findMarkWithBatch(tx, this.located(serial));
        await recordEvent(tx, {
          type: 'mark.cleared',
          at,
          issuerId: owner?.issuerId ?? null,
          certificateId: owner?.certificateId ?? null,
          data: {
            mark: {
              serial,
              certificateId: owner?.certificateId ?? null,
              issuerId: owner?.issuerId ?? null,
              clearedAt: at.toISOString(),
            },
          },
        });
      }
      return cleared;
    });
  }

  /** Shutdown: the signing workers stop. */
  async close(): Promise<void> {
    await this.signer.close();
  }

  /** A typed serial with its batch number and position. */
  private located(serial: string): oneMark.LocatedSerial {
    return { serial, ...this.serials.locate(serial) };
  }

  // -------------------------------------------------------------------------------------------

  private async ownedBatch(principal: Principal, batchId: string): Promise<MarkBatchRow> {
    const batch = await batches.findBatch(this.db, batchId);
    if (!batch) throw notFound('mark batch');
    if (batch.issuerId !== principal.issuerId)
      throw forbidden('only the issuing body may see this batch');
    return batch;
  }

  /** The seed a finished batch is signed with; its codes are re-derived, never stored. */
  private async readyBatchSeed(batch: MarkBatchRow): Promise<Uint8Array> {
    if (batch.status !== 'done') {
      throw new AppError(
        'batch_not_ready',
        `the batch is ${batch.status}: ${batch.done} of ${batch.count} marks written`,
      );
    }
    const key = await findSigningKey(this.db, batch.kid);
    if (!key || key.status === 'compromised') {
      throw new AppError(
        'batch_key_compromised',
        'the batch’s signing key is compromised: its marks no longer verify; issue a new batch',
      );
    }
    return this.deps.vault.signerFromRow(key).seed;
  }

  /** A batch's status list from its void set (a batch issued before status lists). */
  private async giveBatchStatusList(tx: Queryable, batchId: string, at: Date): Promise<void> {
    const batch = (await batches.findBatch(tx, batchId))!;
    await this.deps.statusLists.createBatchList(tx, {
      batchId,
      issuerId: batch.issuerId,
      count: batch.count,
      at,
      voided: await oneMark.voidedPositions(tx, batchId),
    });
  }

  private async batchView(batch: MarkBatchRow): Promise<BatchView> {
    const self = `${this.baseUrl}/v1/mark-batches/${batch.id}`;
    const statusList = await this.deps.statusLists.batchListId(batch.id);
    return {
      batchId: batch.id,
      certificateId: batch.certificateId,
      count: batch.count,
      done: batch.done,
      status: batch.status,
      model: batch.model,
      lot: batch.lot,
      createdAt: batch.createdAt.toISOString(),
      finishedAt: batch.finishedAt?.toISOString() ?? null,
      links: {
        self,
        marks: `${self}/marks`,
        labels: `${self}/labels.svg?page=1`,
        labelsPdf: `${self}/labels.pdf`,
        ...(statusList ? { statusList: this.deps.statusLists.listUrl(statusList) } : {}),
      },
    };
  }
}

/** A serial in a path: 16 digits (the route checks that); failed check digits are a typing error. */
function assertTypedSerial(serial: string): void {
  if (!hasValidSerialCheckDigits(serial)) {
    throw new AppError(
      'serial_check_failed',
      'the serial’s check digits do not match: check it for a typing error',
    );
  }
}
