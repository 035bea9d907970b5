import type { Logger } from 'pino';
import type { Database } from '../db/client';
import type { Clock } from '../clock';
import type { CloneThresholds } from '../config';
import { AppError } from '../errors';
import { retryWhileUnavailable } from '../db/retry';
import type { MarkSerialCipher } from '../crypto/mark-serial-cipher';
import type { LocatedSerial } from '../marks/mark.queries';
import {
  certificateView,
  effectiveStatus,
  type CertificateView,
} from '../certificates/certificate-view';
import type { CertificateWithIssuer } from '../certificates/certificates.queries';
import { provinceOf } from '../shared/identifiers';
import { alertSubjectOf, type AlertSink } from './alert-sink';
import { CertificateVersions } from './certificate-versions';
import { certificateFindings, currentCertificateFacts } from './certificate-findings';
import { MarkKeyRing, type MarkKey } from './mark-key-ring';
import { checkMarkSignature, checkMarkSignatureByOpenssl, readScanInput } from './mark-signature';
import {
  explainMiss,
  findMarkBatchFacts,
  isIssuedMarkOf,
  type MarkBatchFacts,
} from './mark-verification.queries';
import { lookupScannedMark, registerScans, type RegisteredScan } from './scan-registration.queries';
import { LoadingCache } from '../shared/loading-cache';
import { ScanBatcher } from './scan-batcher';
import { ScanRecorder } from './scan-recorder';
import {
  raisesAlert,
  reason,
  verdictOf,
  type Reason,
  type Verdict,
  type VerdictObserver,
} from './verdict';

export interface VerifyMarkRequest {
  /** A mark URL (any letter case), a bare code, or a typed 16-digit serial. */
  code: string;
  location?:
    { region?: string | undefined; lat?: number | undefined; lon?: number | undefined } | undefined;
  product?: { model: string } | undefined;
  presenter?: { uscc: string } | undefined;
}

/** Who asked: for the scan log (the API key's role, or null for the public) and where from. */
export interface ScanCaller {
  role: string | null;
  channel: 'api' | 'page';
  /**
   * Whether this caller's view of the mark was already counted within the window (the page's
   * repeat-view cookie): such a view is logged and answered but neither counted nor alerted again.
   */
  repeatView?: ((serial: string) => boolean) | undefined;
}

export interface MarkView {
  serial: string;
  status: 'active' | 'void';
  scanCount: number;
  /** When and where the mark was first verified: a buyer whose scan is not the first sees it. */
  firstScan: { at: string; region: string | null } | null;
  model?: string;
  lot?: string;
}

export interface MarkVerification {
  verdict: Verdict;
  reasons: Reason[];
  certificate?: CertificateView;
  mark?: MarkView;
  checkedAt: string;
}

export interface MarkVerificationDeps {
  db: Database;
  clock: Clock;
  alerts: AlertSink;
  clone: CloneThresholds;
  /** Locates a serial's batch and position (a mark never scanned has no row). */
  serials: MarkSerialCipher;
  logger?: Logger | undefined;
  scanFlushIntervalMs?: number;
  /** For the operator's metrics (src/metrics/): each answer, each scan log flush, each count. */
  observer?: MarkVerificationObserver | undefined;
}

export interface MarkVerificationObserver {
  verdict: VerdictObserver;
  scanLogFlushed(seconds: number, written: number): void;
  scansCounted(seconds: number, scans: number): void;
}

/** Where the scans stand in this process: waiting to be counted, and to be logged. */
export interface ScanPipelineStats {
  countWaiting: number;
  countStatements: number;
  logBuffered: number;
  logWritten: number;
  logDropped: number;
}

/**
 * The reads an answer needs after its scan was counted (a batch or a certificate not kept yet: the
 * first scans after a start, of a new batch, after a certificate changed) are tried again while
 * the database cannot be reached, for up to eight seconds. Failing them with 503 would leave a
 * counted scan without its log line or alert, and the client's retry would count it a second
 * time; the answer waits out a short outage instead (a reset connection is replaced at once, a
 * database that refused connections for a few seconds is back, and the breaker lets the next try
 * through as soon as it is). Only an outage longer than that still answers 503 for such a scan.
 * (A fault during the counting statement itself leaves its outcome unknown: that retry may still
 * count twice.)
 */
const AFTER_COUNT_RETRIES = {
  delaysMs: [50, 200, 500, 1_000, 1_000, 1_500, 1_500, 2_000],
  withinMs: 8_000,
} as const;

/**
 * A scan's coordinate to 1e-7° (about a centimetre): finer is no position a phone knows, and a
 * sub-normal value (5e-324) or difference underflows PostgreSQL's float8 trigonometry in clone
 * detection (SQLSTATE 22003) instead of meaning a place.
 */
function coordinate(degrees: number | undefined): number | null {
  return degrees === undefined ? null : Math.round(degrees * 1e7) / 1e7 || 0;
}

/**
 * Verifying a scanned or typed mark for anyone (POST /v1/verify/mark, GET /m/{code}): the
 * signature against the published keys, the scan counted and the clone flag decided on the mark
 * row itself, the certificate's findings, the mark's own, and an alert for supervisors when the
 * answer is not one they can ignore.
 */
export class MarkVerificationService {
  private readonly db: Database;
  private readonly clock: Clock;
  private readonly alerts: AlertSink;
  private readonly serials: MarkSerialCipher;
  private readonly keyRing: MarkKeyRing;
  private readonly scans: ScanRecorder;
  private readonly scanCounter: ScanBatcher;
  private readonly certificates: CertificateVersions;
  /** What never changes of a batch, by its id: kept, so no scan reads it again. */
  private readonly batches = new LoadingCache<string, MarkBatchFacts>({ maxEntries: 10_000 });
  private readonly onVerdict: VerdictObserver | undefined;
  /** Each kept certificate's public view, by the object it is kept as (see viewOf). */
  private readonly views = new WeakMap<CertificateWithIssuer, CertificateView>();

  constructor(deps: MarkVerificationDeps) {
    this.db = deps.db;
    this.clock = deps.clock;
    this.alerts = deps.alerts;
    this.serials = deps.serials;
    this.keyRing = new MarkKeyRing(deps.db);
    const observer = deps.observer;
    this.onVerdict = observer?.verdict;
    this.scans = new ScanRecorder(deps.db, {
      flushIntervalMs: deps.scanFlushIntervalMs,
      logger: deps.logger,
      onFlushed: observer && ((seconds, written) => observer.scanLogFlushed(seconds, written)),
    });
    // A group's serials are located together: one AES call per FF1 round for the whole group.
    this.scanCounter = new ScanBatcher(
      (scans) =>
        registerScans(
          deps.db,
          scans,
          deps.serials.locateAll(scans.map((scan) => scan.serial)),
          deps.clone,
        ),
      {
        onCounted: observer && ((seconds, scans) => observer.scansCounted(seconds, scans)),
      },
    );
    this.certificates = new CertificateVersions(deps.db);
  }

  scanPipelineStats(): ScanPipelineStats {
    const { waiting, statements } = this.scanCounter.depth;
    return {
      countWaiting: waiting,
      countStatements: statements,
      logBuffered: this.scans.buffered,
      logWritten: this.scans.written,
      logDropped: this.scans.dropped,
    };
  }

  /**
   * Anyone verifies a scanned or typed mark. Signature first (against the published keys with the
   * code's key id), then one atomic statement counts the scan and returns the registry's mark with
   * the row versions of its certificate and issuer (their content is kept under those versions, and
   * what never changes of its batch is kept too); then the certificate's findings, the mark's own
   * (void, model) and the clone flag. A typed serial has no signature: it is looked up directly.
   */
  async verifyMark(request: VerifyMarkRequest, caller: ScanCaller): Promise<MarkVerification> {
    const now = this.clock.now();
    const input = readScanInput(request.code);
    if (input.kind === 'serial_check_failed') {
      throw new AppError(
        'serial_check_failed',
        'the serial’s check digits do not match: check it for a typing error',
        {
          errors: [{ path: 'code', message: 'ISO 7064 MOD 97-10 check digits fail' }],
        },
      );
    }
    const region = request.location?.region ?? null;
    const lat = coordinate(request.location?.lat);
    const lon = coordinate(request.location?.lon);
    const reasons: Reason[] = [];
    let hit: RegisteredScan | undefined;
    let batch: MarkBatchFacts | undefined;
    let repeat = false;
    /** Whether the serial is a mark of the registry (its alerts are its own). */
    let registered = false;
    /** The published key the code names (its first candidate), if any. */
    let claimedKey: MarkKey | undefined;
    /** The issuer of a registered mark that was not counted (its alerts are that issuer's). */
    let markIssuerId: string | null = null;

    if (input.kind === 'malformed') {
      reasons.push(reason('MALFORMED', input.message));
    } else {
      let kid: string | null = null;
      // Where the serial points, for the look-ups besides counting: decrypted once, and only when
      // asked (a counted scan is located with its group instead).
      let location: LocatedSerial | undefined;
      const located = (): LocatedSerial =>
        (location ??= { serial: input.serial, ...this.serials.locate(input.serial) });
      if (input.kind === 'code') {
        const candidates = await this.keyRing.candidates(input.decoded.keyId);
        claimedKey = candidates[0];
        let check = checkMarkSignatureByOpenssl(input.decoded, candidates);
        // No published key: one withdrawn as compromised may have signed it. That proves nothing
        // of the mark (whoever holds the leaked key signs what they like), but its alert is then
        // counted on that key and its issuer: supervisors see whose leaked key is in use. Only a
        // signature that holds attributes it, so nobody can aim alerts at an issuer.
        if (!check.ok && check.reason === 'UNKNOWN_KEY') {
          const withdrawn = this.keyRing.compromised(input.decoded.keyId);
          const leaked = checkMarkSignatureByOpenssl(input.decoded, withdrawn);
          if (leaked.ok) {
            claimedKey = leaked.key;
            check = {
              ok: false,
              reason: 'UNKNOWN_KEY',
              message: 'the mark is signed by a withdrawn (compromised) key',
            };
          }
        }
        // OpenSSL's no is final unless noble's cofactored rule says yes (a signature only a key's
        // holder can make), and that can change the verdict only for a mark the registry holds
        // under one of these keys: only then pay noble's ~1 ms. A forger's fresh serial does not,
        // nor one whose check digits fail (no mark, whoever signed it).
        if (
          !check.ok &&
          check.reason === 'BAD_SIGNATURE' &&
          input.decoded.serialCheckDigitsValid &&
          (await isIssuedMarkOf(this.db, { ...located(), kids: candidates.map((k) => k.kid) }))
        ) {
          check = checkMarkSignature(input.decoded, candidates);
        }
        if (check.ok) kid = check.key.kid;
        else reasons.push(reason(check.reason, check.message));
      }
      if (reasons.length === 0) {
        const point = lat !== null && lon !== null;
        repeat = caller.repeatView?.(input.serial) ?? false;
        hit = repeat
          ? await lookupScannedMark(this.db, { ...located(), kid })
          : await this.scanCounter.register({
              serial: input.serial,
              kid,
              at: now,
              region,
              province: region ? provinceOf(region) : null,
              lat: point ? lat : null,
              lon: point ? lon : null,
            });
        if (!hit) {
          const miss = await this.whyNoMark(located(), kid);
          reasons.push(miss.reason);
          registered = miss.registered;
          markIssuerId = miss.issuerId;
        } else {
          registered = true;
          batch = this.batches.peek(hit.batchId) ?? (await this.batchFacts(hit.batchId));
          if (batch.keyIssuerId !== batch.issuerId) {
            reasons.push(
              reason(
                'REGISTRY_MISMATCH',
                'the mark is signed by a key of another issuer than its certificate’s',
              ),
            );
          }
        }
      }
    }

    let certificate: CertificateView | undefined;
    let mark: MarkView | undefined;
    if (hit && batch && reasons.length === 0) {
      const at = {
        id: batch.certificateId,
        version: hit.certificateVersion,
        issuerVersion: hit.issuerVersion,
      };
      const found =
        this.certificates.held(at) ??
        (await retryWhileUnavailable(() => this.certificates.current(at), AFTER_COUNT_RETRIES));
      if (!found) throw new Error(`certificate ${batch.certificateId} vanished`);
      const facts = currentCertificateFacts(found, now);
      const model = request.product?.model;
      // A mark issued for one model vouches for that model only; one without, for the scope.
      reasons.push(
        ...certificateFindings(facts, {
          presenterUscc: request.presenter?.uscc,
          model: batch.model ? undefined : model,
        }),
      );
      if (
        batch.model &&
        model !== undefined &&
        model.trim().toUpperCase() !== batch.model.toUpperCase()
      ) {
        reasons.push(
          reason('OUT_OF_SCOPE', `this mark was issued for model ${batch.model}, not ${model}`),
        );
      }
      if (hit.status === 'void')
        reasons.push(
          reason('MARK_VOID', 'the issuer has voided this mark (destroyed, recalled or lost)'),
        );
      if (hit.cloneFlaggedAt) {
        reasons.push(
          reason(
            'SUSPECTED_CLONE',
            'this mark has been verified too often or too far apart: it may have been copied',
          ),
        );
      }
      certificate = this.viewOf(found, now);
      mark = {
        serial: hit.serial,
        status: hit.status,
        scanCount: hit.scanCount,
        firstScan: hit.firstScanAt
          ? { at: hit.firstScanAt.toISOString(), region: hit.firstScanRegion }
          : null,
        ...(batch.model ? { model: batch.model } : {}),
        ...(batch.lot ? { lot: batch.lot } : {}),
      };
    }

    const verdict = verdictOf(reasons);
    this.onVerdict?.('mark', verdict, reasons);
    const answer: MarkVerification = {
      verdict,
      reasons,
      ...(certificate ? { certificate } : {}),
      ...(mark ? { mark } : {}),
      checkedAt: now.toISOString(),
    };
    const serial = input.kind === 'malformed' ? null : input.serial;
    this.scans.record({
      serial,
      at: now,
      region,
      lat,
      lon,
      callerRole: caller.role,
      channel: caller.channel,
      verdict,
      reasons: reasons.map((r) => r.code),
      counted: !repeat,
    });
    // One person looking again is not another sighting: their first view raised (or counted) it.
    // raise() never rejects: a finding it cannot store at once is retried, or logged and counted.
    if (raisesAlert(reasons) && !repeat) {
      await this.alerts.raise({
        ...alertSubjectOf({
          record: serial && registered ? { type: 'mark', id: serial } : undefined,
          claimedKid: claimedKey?.kid,
          channel: 'verify.mark',
        }),
        verdict,
        reasons,
        issuerId: batch?.issuerId ?? (registered ? markIssuerId : (claimedKey?.issuerId ?? null)),
        certificateId: batch?.certificateId ?? null,
        region,
        channel: 'verify.mark',
        at: now,
        context: {
          // An aggregated alert keeps the serial of its first and of its latest finding.
          serial: registered ? undefined : (serial ?? undefined),
          model: request.product?.model,
          presenter: request.presenter?.uscc,
          lat: lat ?? undefined,
          lon: lon ?? undefined,
          scanCount: mark?.scanCount,
        },
      });
    }
    return answer;
  }

  /**
   * The public view of a kept certificate, made once per kept version and reused while its status
   * as of `now` is the same (a kept certificate is read anew, as a new object, once it changes).
   * Views are shared by the answers that carry them, which only serialise them.
   */
  private viewOf(found: CertificateWithIssuer, now: Date): CertificateView {
    const status = effectiveStatus(found.certificate, now, found.issuer);
    const kept = this.views.get(found);
    if (kept?.status === status) return kept;
    // Frozen: an answer that tried to change the view it shares would throw, not leak into others.
    const view = certificateView(found.certificate, found.issuer, now);
    Object.freeze(view.issuer);
    this.views.set(found, Object.freeze(view));
    return view;
  }

  /** Writes the buffered scan log now (tests, shutdown). */
  flushScanLog(): Promise<void> {
    return this.scans.flush();
  }

  /**
   * Shutdown: every scan handed over is counted on its mark, then the scan log is written, tried
   * again while the database is away until `withinMs` have passed (what is still unwritten then is
   * logged as lost). Called once no request is in flight any more, so nothing is added behind the
   * last flush.
   */
  async close(withinMs = 0): Promise<void> {
    await this.scanCounter.drained();
    await this.scans.close(withinMs);
  }

  /** What never changes of a scanned mark's batch (a batch is never deleted once it has marks). */
  private async batchFacts(batchId: string): Promise<MarkBatchFacts> {
    const facts = await retryWhileUnavailable(
      () => this.batches.get(batchId, () => findMarkBatchFacts(this.db, batchId)),
      AFTER_COUNT_RETRIES,
    );
    if (!facts) throw new Error(`mark batch ${batchId} vanished`);
    return facts;
  }

  /** Why a scan found no mark, and whether its serial is a mark of the registry all the same. */
  private async whyNoMark(
    located: LocatedSerial,
    kid: string | null,
  ): Promise<{ reason: Reason; registered: boolean; issuerId: string | null }> {
    const { mark, key } = await explainMiss(this.db, { ...located, kid });
    const registered = mark !== undefined && mark.batchStatus === 'done';
    const issuerId = registered ? mark.issuerId : null;
    // A compromised key is no longer published: what it signed proves nothing.
    if (key?.status === 'compromised')
      return {
        reason: reason('UNKNOWN_KEY', 'the mark is signed by a withdrawn (compromised) key'),
        registered,
        issuerId,
      };
    if (!mark || !registered)
      return {
        reason: reason('NOT_IN_REGISTRY', 'no such mark in the registry'),
        registered,
        issuerId,
      };
    // Its label could have been printed by whoever holds the leaked key: the typed serial of such
    // a mark vouches no more than its scanned code does.
    if (mark.batchKeyStatus === 'compromised')
      return {
        reason: reason(
          'UNKNOWN_KEY',
          'the mark’s batch was signed with a key since withdrawn as compromised',
        ),
        registered,
        issuerId,
      };
    return {
      reason: reason(
        'REGISTRY_MISMATCH',
        key && key.issuerId !== mark.issuerId
          ? 'the mark’s serial belongs to another issuer’s batch'
          : 'the mark is not signed with the key its batch was issued with',
      ),
      registered,
      issuerId,
    };
  }
}
