import { desc, and, eq, lte } from 'drizzle-orm';
import type { Queryable } from '../db/client';
import {
  certificates,
  type CertificateRow,
  type CertificateStatus,
} from '../db/schema/certificates';
import { certificateStatusEvents } from '../db/schema/certificate-status-events';
import type { IssuerRow } from '../db/schema/issuers';
import { issuerStatusEvents } from '../db/schema/issuer-status-events';
import { modelInScope } from '../certificates/scope';
import { lockIssuer } from '../issuers/issuers.queries';
import { chinaDay } from '../shared/dates';
import { reason, type Reason } from './verdict';
import { takeTurn } from '../db/turns';

export interface CertificateFacts {
  certificate: CertificateRow;
  issuer: IssuerRow;
  /** The certificate's and issuer's statuses at the instant asked about. */
  status: CertificateStatus;
  statusReason: string | null;
  issuerStatus: IssuerRow['status'];
  /** The calendar day (China Standard Time) asked about. */
  day: string;
  /**
   * What is left of an exemption's quantity, where it is judged: now. A past instant has no
   * remaining to judge by (a day's own imports would read as exhausting it), nor has a
   * certificate that is not an exemption: null.
   */
  remaining: number | null;
}

export interface PresentationContext {
  /** Who presents the certificate: must be its holder, manufacturer or a factory. */
  presenterUscc?: string | undefined;
  /** The product it is used for: must be in scope. */
  model?: string | undefined;
  /**
   * The quantity an exemption must still cover: a customs declaration's, or 1 when a verification
   * of the certificate asks whether it still covers an import at all. Left out (a product's mark:
   * its unit was imported already), quantity is not judged.
   */
  quantity?: number | undefined;
  /** Whether `quantity` is a customs declaration's (the finding then names it). */
  declared?: boolean | undefined;
}

/** The facts now: the registry's current columns (no history to read, nothing to wait for). */
export function currentCertificateFacts(
  found: { certificate: CertificateRow; issuer: IssuerRow },
  now: Date,
): CertificateFacts {
  return {
    certificate: found.certificate,
    issuer: found.issuer,
    status: found.certificate.status,
    statusReason: found.certificate.statusReason,
    issuerStatus: found.issuer.status,
    day: chinaDay(now),
    remaining: found.certificate.remaining ?? null,
  };
}

/**
 * The facts as of `instant`. For "now" they are the registry's current columns; for a past
 * instant they are replayed from the status histories (the last change at or before it).
 */
export async function certificateFactsAt(
  db: Queryable,
  found: { certificate: CertificateRow; issuer: IssuerRow },
  instant: Date,
  { historical }: { historical: boolean },
): Promise<CertificateFacts> {
  if (!historical) return currentCertificateFacts(found, instant);
  const day = chinaDay(instant);
  const [certEvent, issuerEvent] = await db.transaction(async (tx) => {
    // A status change takes its time under its row lock and commits a little later. Reading the
    // histories under a shared lock of the issuer and the certificate waits for a change in flight,
    // so an instant after its time is never answered as if it had not happened (which would answer
    // `authentic` for a moment at which the certificate was revoked). The certificate's lock is the
    // weakest that a status change (FOR UPDATE) waits for: customs deductions pass it. Each is
    // taken in turn (src/db/turns.ts): a stream of these reads never keeps a change waiting.
    await lockIssuer(tx, found.issuer.id, 'read');
    await takeTurn(tx, 'certificate', found.certificate.id, 'read');
    await tx
      .select({ id: certificates.id })
      .from(certificates)
      .where(eq(certificates.id, found.certificate.id))
      .for('key share');
    return historyAt(tx, found, instant);
  });
  // Before its first change a certificate was valid and its issuer active.
  return {
    ...found,
    status: certEvent?.status ?? 'valid',
    statusReason: certEvent?.reason ?? null,
    issuerStatus: issuerEvent?.status ?? 'active',
    day,
    remaining: null,
  };
}

/** The last change of the certificate's and the issuer's status at or before `instant`. */
async function historyAt(
  db: Queryable,
  found: { certificate: CertificateRow; issuer: IssuerRow },
  instant: Date,
) {
  const [[certEvent], [issuerEvent]] = await Promise.all([
    db
      .select({ status: certificateStatusEvents.status, reason: certificateStatusEvents.reason })
      .from(certificateStatusEvents)
      .where(
        and(
          eq(certificateStatusEvents.certificateId, found.certificate.id),
          lte(certificateStatusEvents.at, instant),
        ),
      )
      .orderBy(desc(certificateStatusEvents.at), desc(certificateStatusEvents.id))
      .limit(1),
    db
      .select({ status: issuerStatusEvents.status })
      .from(issuerStatusEvents)
      .where(
        and(eq(issuerStatusEvents.issuerId, found.issuer.id), lte(issuerStatusEvents.at, instant)),
      )
      .orderBy(desc(issuerStatusEvents.at), desc(issuerStatusEvents.id))
      .limit(1),
  ]);
  return [certEvent, issuerEvent] as const;
}

const statusReasons = {
  suspended: 'SUSPENDED',
  revoked: 'REVOKED',
  withdrawn: 'WITHDRAWN',
} as const;

/** Every finding about a genuine registry record presented in a context (pure). */
export function certificateFindings(
  facts: CertificateFacts,
  context: PresentationContext = {},
): Reason[] {
  const { certificate: cert } = facts;
  const reasons: Reason[] = [];
  if (context.presenterUscc !== undefined) {
    const presenter = context.presenterUscc.trim().toUpperCase();
    const parties = [cert.holder, cert.manufacturer, ...cert.factories];
    if (!parties.some((p) => p?.uscc && p.uscc.toUpperCase() === presenter)) {
      reasons.push(
        reason(
          'HOLDER_MISMATCH',
          'the presenter is not the holder, the manufacturer or a factory of this certificate',
        ),
      );
    }
  }
  if (context.model !== undefined && !modelInScope(cert.scope, context.model)) {
    reasons.push(
      reason('OUT_OF_SCOPE', `model ${context.model} is not covered by this certificate`),
    );
  }
  if (facts.day < cert.validFrom)
    reasons.push(reason('NOT_YET_VALID', `valid only from ${cert.validFrom}`));
  if (facts.day > cert.validUntil)
    reasons.push(reason('EXPIRED', `expired after ${cert.validUntil}`));
  if (facts.status !== 'valid') {
    const why = facts.statusReason ? `: ${facts.statusReason}` : '';
    reasons.push(reason(statusReasons[facts.status], `the certificate is ${facts.status}${why}`));
  }
  if (facts.issuerStatus === 'suspended') {
    reasons.push(reason('ISSUER_SUSPENDED', `the issuing body ${facts.issuer.name} is suspended`));
  }
  if (
    context.quantity !== undefined &&
    facts.remaining !== null &&
    context.quantity > facts.remaining
  ) {
    const of = `${facts.remaining} of ${cert.quantity ?? 0}`;
    reasons.push(
      reason(
        'QUANTITY_EXHAUSTED',
        context.declared
          ? `the declaration imports ${context.quantity} but only ${of} remain`
          : `the exempted quantity is used up (${of} remain)`,
      ),
    );
  }
  return reasons;
}
