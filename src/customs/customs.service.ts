import { createHash } from 'node:crypto';
import type { Database, Queryable, Transaction } from '../db/client';
import { changeTime, type Clock } from '../clock';
import type { ConsumptionStatus, CustomsConsumptionRow } from '../db/schema/customs-consumptions';
import { actorOf, type Principal } from '../auth/principal';
import { appendAuditEntry } from '../audit/audit.queries';
import { canonicalJson } from '../crypto/canonical-json';
import { certificateView } from '../certificates/certificate-view';
import { recordEvent } from '../subscriptions/outbox';
import {
  findCertificate,
  lockCertificate,
  findCertificatesByNumber,
  type CertificateWithIssuer,
} from '../certificates/certificates.queries';
import { AppError, forbidden, isUniqueViolation, notFound } from '../errors';
import { chinaDay } from '../shared/dates';
import type { AlertSink } from '../verification/alert-sink';
import { certificateFindings, currentCertificateFacts } from '../verification/certificate-findings';
import type { CertificateVerification } from '../verification/verification.service';
import {
  isAlerting,
  reason,
  verdictOf,
  type Reason,
  type VerdictObserver,
} from '../verification/verdict';
import * as q from './customs.queries';
import { takeTurn } from '../db/turns';

/** What customs declares against a CCC exemption (SPEC "Customs: CCC exemptions"). */
export interface ConsumeExemptionRequest {
  number: string;
  issuerId?: string | undefined;
  /** 报关单号: 18 digits; one decision per declaration. */
  declarationNo: string;
  quantity: number;
  importerUscc: string;
  port?: string | undefined;
  model?: string | undefined;
}

export interface Consumption {
  /** Whether this declaration deducted its quantity. */
  consumed: boolean;
  /** The quantity the declaration imports. */
  quantity: number;
  /** The exemption's remaining quantity after this decision (null when no exemption was found). */
  remaining: number | null;
  /** True when this answer repeats the stored decision on the same declaration. */
  replayed: boolean;
}

export interface ExemptionConsumption extends CertificateVerification {
  consumption: Consumption;
}

export interface ConsumptionView {
  id: number;
  declarationNo: string;
  status: ConsumptionStatus;
  quantity: number;
  remainingAfter: number;
  importerUscc: string;
  port: string | null;
  model: string | null;
  reasons: { code: string; message: string }[];
  apiKeyId: string | null;
  at: string;
}

export interface ConsumptionLedgerQuery {
  status: ConsumptionStatus | 'all';
  page: number;
  pageSize: number;
}

export interface RefusalQuery {
  reason?: string | undefined;
  issuer?: string | undefined;
  page: number;
  pageSize: number;
}

/**
 * Retries of the conditional deduction when it fails although a fresh read finds nothing wrong
 * (the exemption changed twice in between, e.g. suspended and reinstated). Each retry follows a
 * committed change by someone else, so this bound is never reached by ordinary traffic.
 */
const MAX_DEDUCTION_ATTEMPTS = 3;

type Decision =
  | { kind: 'decided'; answer: ExemptionConsumption }
  | { kind: 'stored'; row: CustomsConsumptionRow };

/**
 * Customs checks CCC exemptions (免予办理CCC认证) at import and deducts what each declaration
 * brings in (便捷审批、快速核放). The quantity ledger is exact across every instance sharing the
 * database: a deduction is one conditional UPDATE, the declaration decides once, and the ledger row
 * and its audit entry commit in the same transaction as the deduction.
 */
export class CustomsService {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly alerts: AlertSink,
    private readonly onVerdict: VerdictObserver = () => {},
  ) {}

  /**
   * Consume an exemption: verify it for this importer and model, and deduct the declared quantity
   * only when the verdict is `authentic`. A declaration already decided answers as before
   * (`replayed: true`), or 409 when the same number now comes with other content.
   */
  async consumeExemption(
    principal: Principal,
    request: ConsumeExemptionRequest,
  ): Promise<ExemptionConsumption> {
    const found = await this.findExemption(request.number, request.issuerId);
    if (!found) return this.notInRegistry(request, this.clock.now());

    const requestHash = requestHashOf(found.certificate.id, request);
    // Most replays (a client retrying after a timeout) find the stored answer without a transaction.
    const earlier = await q.findConsumptionByDeclaration(this.db, request.declarationNo);
    if (earlier) return replayOf(earlier, found.certificate.id, request);

    let decision: Decision;
    try {
      decision = await this.db.transaction((tx) =>
        this.decide(tx, principal, request, requestHash, found),
      );
    } catch (error) {
      // The unique declaration number is the last line of defence behind the advisory lock: if
      // another decision was stored first anyway, answer with it (or 409) rather than a 500.
      const stored = isUniqueViolation(error, 'customs_consumptions_declaration_unique')
        ? await q.findConsumptionByDeclaration(this.db, request.declarationNo)
        : undefined;
      if (!stored) throw error;
      decision = { kind: 'stored', row: stored };
    }
    if (decision.kind === 'stored') return replayOf(decision.row, found.certificate.id, request);
    // A replay repeats an answer already counted; only a declaration decided now is counted.
    this.onVerdict('exemption', decision.answer.verdict, decision.answer.reasons);
    const decidedAt = new Date(decision.answer.checkedAt);
    await this.raiseAlertIfMisuse(request, found, decision.answer, decidedAt);
    return decision.answer;
  }

  /** The ledger of one exemption (customs, supervisors, and the issuing body only), newest first. */
  async listConsumptions(
    principal: Principal,
    certificateId: string,
    query: ConsumptionLedgerQuery,
  ) {
    const found = await findCertificate(this.db, certificateId);
    if (!found) throw notFound('exemption');
    if (principal.role === 'issuer' && principal.issuerId !== found.certificate.issuerId) {
      throw forbidden('only the issuing body, customs and supervisors may read this ledger');
    }
    if (found.certificate.scheme !== 'CCC_EXEMPTION')
      throw notAnExemption(found.certificate.number, found.certificate.scheme);
    const { rows, total } = await q.listConsumptions(this.db, {
      certificateId,
      status: query.status === 'all' ? undefined : query.status,
      limit: query.pageSize,
      offset: (query.page - 1) * query.pageSize,
    });
    const { certificate } = found;
    return {
      exemption: {
        id: certificate.id,
        number: certificate.number,
        quantity: certificate.quantity ?? 0,
        remaining: certificate.remaining ?? 0,
      },
      items: rows.map(consumptionView),
      page: query.page,
      pageSize: query.pageSize,
      total,
    };
  }

  /**
   * Refused declarations across every exemption, for supervisors (and customs): over-quantity
   * attempts are `invalid` findings that raise no supervision alert of their own class, so this is
   * where they are followed up.
   */
  async listRefusals(query: RefusalQuery) {
    const { rows, total } = await q.listRefusals(this.db, {
      reasonCode: query.reason,
      issuerId: query.issuer,
      limit: query.pageSize,
      offset: (query.page - 1) * query.pageSize,
    });
    return {
      items: rows.map((r) => ({
        ...consumptionView(r.consumption),
        exemption: { id: r.consumption.certificateId, number: r.number, issuerId: r.issuerId },
      })),
      page: query.page,
      pageSize: query.pageSize,
      total,
    };
  }

  /**
   * Decides one declaration inside a transaction holding its advisory lock: a concurrent copy of
   * the same declaration waits here, then finds this decision stored.
   */
  private async decide(
    tx: Transaction,
    principal: Principal,
    request: ConsumeExemptionRequest,
    requestHash: string,
    found: CertificateWithIssuer,
  ): Promise<Decision> {
    await q.lockDeclaration(tx, request.declarationNo);
    // The deduction holds its issuer's row shared (an issuer suspended meanwhile refuses it): it
    // takes its turn first, as every reader of an issuer does (src/db/turns.ts), so a stream of
    // deductions never keeps a suspension waiting.
    await takeTurn(tx, 'issuer', found.issuer.id, 'read');
    const stored = await q.findConsumptionByDeclaration(tx, request.declarationNo);
    if (stored) return { kind: 'stored', row: stored };

    let current = found;
    let now = decisionTime(this.clock, current);
    let reasons = await this.exemptionFindings(tx, current, request, now);
    if (reasons.length > 0) {
      // A refusal stays in the ledger for good: judge it on what is committed now, not on the
      // read made before this transaction (a suspension lifted meanwhile refused declarations for
      // good: outside probe), with the certificate held against a status change while it is
      // judged and timed (held for a change: the deduction that may follow updates the row, and two
      // declarations holding it shared, then both updating, deadlocked). The issuer cannot change
      // either: this transaction holds its turn.
      await lockCertificate(tx, found.certificate.id, 'change');
      current = (await findCertificate(tx, found.certificate.id)) ?? current;
      now = decisionTime(this.clock, current);
      reasons = await this.exemptionFindings(tx, current, request, now);
    }
    let remainingAfter = current.certificate.remaining ?? 0;
    let consumed = false;
    for (let attempt = 1; reasons.length === 0; attempt++) {
      // The read above may be stale by now; the deduction re-checks everything that can change.
      const deducted = await q.deductExemptionQuantity(tx, {
        certificateId: current.certificate.id,
        quantity: request.quantity,
        day: chinaDay(now),
      });
      if (deducted) {
        consumed = true;
        remainingAfter = deducted.remaining;
        break;
      }
      // Someone committed a change first (a deduction, a revocation, a suspension): judge again on
      // what is committed now, which is what made the conditional UPDATE refuse.
      current = (await findCertificate(tx, current.certificate.id)) ?? current;
      now = decisionTime(this.clock, current);
      remainingAfter = current.certificate.remaining ?? 0;
      reasons = await this.exemptionFindings(tx, current, request, now);
      if (reasons.length === 0 && attempt >= MAX_DEDUCTION_ATTEMPTS) {
        throw new AppError(
          'exemption_contended',
          'the exemption kept changing while being consumed; retry the declaration',
        );
      }
    }

    const answer: ExemptionConsumption = {
      verdict: verdictOf(reasons),
      reasons,
      certificate: certificateView(
        { ...current.certificate, remaining: remainingAfter },
        current.issuer,
        now,
      ),
      checkedAt: now.toISOString(),
      consumption: {
        consumed,
        quantity: request.quantity,
        remaining: remainingAfter,
        replayed: false,
      },
    };
    const row = await q.insertConsumption(tx, {
      declarationNo: request.declarationNo,
      requestHash,
      certificateId: current.certificate.id,
      status: consumed ? 'consumed' : 'refused',
      quantity: request.quantity,
      remainingAfter,
      importerUscc: request.importerUscc,
      port: request.port ?? null,
      model: request.model ?? null,
      reasons,
      answer: answer as unknown as Record<string, unknown>,
      apiKeyId: principal.keyId,
      at: now,
    });
    // The audit log records changes: a deduction, in the transaction that makes it. A refusal
    // changes nothing; it stays in the ledger (and, when it is misuse, reaches supervisors as an
    // alert) without taking the log's global append lock.
    if (!consumed) return { kind: 'decided', answer };
    await appendAuditEntry(tx, now, {
      actor: actorOf(principal),
      action: 'customs.consume',
      subjectType: 'certificate',
      subjectId: current.certificate.id,
      change: {
        consumptionId: row.id,
        declarationNo: request.declarationNo,
        quantity: request.quantity,
        importerUscc: request.importerUscc,
        port: request.port ?? null,
        model: request.model ?? null,
        remainingAfter,
        reasons: reasons.map((r) => r.code),
      },
    });
    const exemption = {
      id: current.certificate.id,
      number: current.certificate.number,
      issuerId: current.certificate.issuerId,
      quantity: current.certificate.quantity,
      remaining: remainingAfter,
    };
    await recordEvent(tx, {
      type: 'exemption.consumed',
      at: now,
      issuerId: exemption.issuerId,
      certificateId: exemption.id,
      data: {
        certificate: exemption,
        consumption: {
          id: row.id,
          declarationNo: request.declarationNo,
          quantity: request.quantity,
          importerUscc: request.importerUscc,
          port: request.port ?? null,
          model: request.model ?? null,
          at: now.toISOString(),
        },
      },
      // A holder, importer or platform following the exemption hears how much was used and what
      // remains (the registry shows both), not whose declaration, where, or of which model.
      publicData: {
        certificate: exemption,
        consumption: {
          quantity: request.quantity,
          remaining: remainingAfter,
          at: now.toISOString(),
        },
      },
    });
    if (remainingAfter === 0) {
      // Public facts only (the registry shows quantity and remaining): subscribers may follow it.
      await recordEvent(tx, {
        type: 'exemption.exhausted',
        at: now,
        issuerId: exemption.issuerId,
        certificateId: exemption.id,
        data: { certificate: exemption, exhaustedAt: now.toISOString() },
      });
    }
    return { kind: 'decided', answer };
  }

  /**
   * Every finding about presenting this exemption for this declaration. Stricter than verification:
   * an exemption is granted to its holder (the importer) alone, so a manufacturer or factory
   * importing under it is HOLDER_MISMATCH too.
   */
  private async exemptionFindings(
    db: Queryable,
    found: CertificateWithIssuer,
    request: ConsumeExemptionRequest,
    now: Date,
  ): Promise<Reason[]> {
    const { certificate } = found;
    const reasons: Reason[] = [];
    if (certificate.holderUscc?.toUpperCase() !== request.importerUscc.toUpperCase()) {
      reasons.push(reason('HOLDER_MISMATCH', 'the importer is not the holder of this exemption'));
    }
    const facts = currentCertificateFacts(found, now);
    reasons.push(
      ...certificateFindings(facts, {
        model: request.model,
        quantity: request.quantity,
        declared: true,
      }),
    );
    return reasons;
  }

  /**
   * The exemption a number names. Only exemptions compete for it: another body's certificate of
   * another scheme that happens to share the number must not hold up clearance (or let anyone block
   * an importer by reusing an exemption's number). Several exemptions with the number need
   * `issuerId`.
   */
  private async findExemption(
    number: string,
    issuerId: string | undefined,
  ): Promise<CertificateWithIssuer | undefined> {
    const matches = await findCertificatesByNumber(this.db, { number, issuerId });
    const exemptions = matches.filter((m) => m.certificate.scheme === 'CCC_EXEMPTION');
    if (exemptions.length > 1) {
      throw new AppError(
        'ambiguous_number',
        'several issuers have a CCC exemption with this number; give issuerId',
        {
          issuers: exemptions.map((m) => ({ id: m.issuer.id, name: m.issuer.name })),
        },
      );
    }
    const [first] = matches;
    if (exemptions.length === 0 && first) throw notAnExemption(number, first.certificate.scheme);
    return exemptions[0];
  }

  /**
   * An unknown number is an answer, not an error: `forged`/NOT_IN_REGISTRY, nothing deducted and
   * nothing stored (there is no exemption to hang it on), but supervisors are told. A declaration
   * already decided against a real exemption still refuses to be reused for another number.
   */
  private async notInRegistry(
    request: ConsumeExemptionRequest,
    now: Date,
  ): Promise<ExemptionConsumption> {
    const earlier = await q.findConsumptionByDeclaration(this.db, request.declarationNo);
    if (earlier) return replayOf(earlier, null, request);
    const reasons = [
      reason('NOT_IN_REGISTRY', `no certificate numbered ${request.number} in the registry`),
    ];
    const answer: ExemptionConsumption = {
      verdict: verdictOf(reasons),
      reasons,
      checkedAt: now.toISOString(),
      consumption: {
        consumed: false,
        quantity: request.quantity,
        remaining: null,
        replayed: false,
      },
    };
    this.onVerdict('exemption', answer.verdict, answer.reasons);
    await this.raiseAlertIfMisuse(request, undefined, answer, now);
    return answer;
  }

  /**
   * Supervisors hear of every forged or misused presentation, and of every over-quantity attempt:
   * QUANTITY_EXHAUSTED is an `invalid` finding, yet importing beyond an exemption is the misuse
   * customs exists to stop.
   */
  private async raiseAlertIfMisuse(
    request: ConsumeExemptionRequest,
    found: CertificateWithIssuer | undefined,
    answer: ExemptionConsumption,
    at: Date,
  ): Promise<void> {
    const overQuantity = answer.reasons.some((r) => r.code === 'QUANTITY_EXHAUSTED');
    if (!isAlerting(answer.verdict) && !overQuantity) return;
    // raise() never rejects: an alert that cannot be stored at once is retried (or logged and
    // counted), and never undoes or hides a customs decision already committed.
    await this.alerts.raise({
      ...(found
        ? { subjectType: 'certificate' as const, subject: found.certificate.id }
        : { subjectType: 'code' as const, subject: `number:${request.number}` }),
      verdict: answer.verdict,
      reasons: answer.reasons,
      issuerId: found?.issuer.id ?? null,
      certificateId: found?.certificate.id ?? null,
      channel: 'customs.consume',
      at,
      context: {
        declarationNo: request.declarationNo,
        importer: request.importerUscc,
        quantity: request.quantity,
        port: request.port,
        model: request.model,
        number: request.number,
      },
    });
  }
}

/**
 * When a declaration is decided on what was read of its exemption: a time taken after that read, so
 * that a status change the decision saw (committed before the read) came before it, and never
 * before the time recorded for that change, which another instance's clock running ahead may have
 * put later. A refusal as REVOKED is then never stamped before the revocation (a verification `at`
 * between the two would answer authentic), nor a deduction before the reinstatement it relied on.
 */
function decisionTime(clock: Clock, { certificate, issuer }: CertificateWithIssuer): Date {
  const latest = Math.max(
    certificate.statusChangedAt?.getTime() ?? 0,
    issuer.statusChangedAt?.getTime() ?? 0,
  );
  return changeTime(clock, latest > 0 ? new Date(latest) : null);
}

function notAnExemption(number: string, scheme: string): AppError {
  return new AppError(
    'not_an_exemption',
    `certificate ${number} is a ${scheme} certificate, not a CCC exemption (CCC_EXEMPTION)`,
  );
}

/**
 * What makes two declarations "the same": the exemption they resolve to and everything declared,
 * each as it is compared (a USCC and a model in any case, as the SPEC matches them). `issuerId` is
 * left out on purpose — naming the issuer or not is the same request when it resolves to the same
 * exemption.
 */
function requestHashOf(
  certificateId: string | null,
  request: ConsumeExemptionRequest,
  modelAsSent = false,
): string {
  const content = canonicalJson({
    certificateId,
    declarationNo: request.declarationNo,
    quantity: request.quantity,
    importerUscc: request.importerUscc.toUpperCase(),
    port: request.port ?? null,
    model: (modelAsSent ? request.model : request.model?.toUpperCase()) ?? null,
  });
  return createHash('sha256').update(content).digest('hex');
}

/**
 * The stored answer again, or 409 when the declaration number is reused for something else.
 * Declarations stored before models were compared in any case hold the hash of the model as sent.
 */
function replayOf(
  stored: CustomsConsumptionRow,
  certificateId: string | null,
  request: ConsumeExemptionRequest,
): ExemptionConsumption {
  const same =
    stored.requestHash === requestHashOf(certificateId, request) ||
    stored.requestHash === requestHashOf(certificateId, request, true);
  if (!same) {
    throw new AppError(
      'declaration_conflict',
      `declaration ${stored.declarationNo} was already decided with other content; a declaration is decided once`,
    );
  }
  const answer = stored.answer as unknown as ExemptionConsumption;
  return { ...answer, consumption: { ...answer.consumption, replayed: true } };
}

function consumptionView(row: CustomsConsumptionRow): ConsumptionView {
  return {
    id: row.id,
    declarationNo: row.declarationNo,
    status: row.status,
    quantity: row.quantity,
    remainingAfter: row.remainingAfter,
    importerUscc: row.importerUscc,
    port: row.port,
    model: row.model,
    reasons: row.reasons,
    apiKeyId: row.apiKeyId,
    at: row.at.toISOString(),
  };
}
