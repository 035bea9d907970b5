import { randomUUID } from 'node:crypto';
import { appendAuditEntry } from '../audit/audit.queries';
import { systemActor } from '../auth/principal';
import { findCertificate, findCertificatesByNumber } from '../certificates/certificates.queries';
import type { Clock } from '../clock';
import { decodeMarkCode, extractMarkCode } from '../crypto/mark-code';
import type { MarkSerialCipher } from '../crypto/mark-serial-cipher';
import { hasValidSerialCheckDigits } from '../crypto/serial';
import type { Database, Queryable } from '../db/client';
import { redactText } from '../http/redact';
import {
  ambiguousNumber,
  numberHolders,
  type NumberHolder,
} from '../certificates/ambiguous-number';
import { findMarkWithBatch } from '../marks/mark.queries';
import { auditOpenedAlerts, openOrCountAlert, REPORTED } from './alerts.service';
import { insertReport } from './alerts.queries';

export interface ReportInput {
  code?: string | undefined;
  certificateNumber?: string | undefined;
  certificateId?: string | undefined;
  /** Picks the certificate when several issuers use its number. */
  issuerId?: string | undefined;
  /** The reporter's words; a report may name the product and nothing more. */
  description?: string | undefined;
  region?: string | undefined;
  point?: { lat: number; lon: number } | undefined;
  contact?: string | undefined;
}

interface ReportSubject {
  subjectType: 'mark' | 'certificate' | 'code' | 'report';
  subject: string;
  issuerId: string | null;
  certificateId: string | null;
  /** The issuers holding the number the report gave, when it is several's and no one's was meant. */
  numberHolders?: NumberHolder[];
}

/**
 * The mark serial a scanned or typed code names, if it names one (its signature is not checked): a
 * code written in groups (spaces, dots, one group a line) names its mark too.
 */
function markSerialOf(code: string): string | null {
  const extracted = extractMarkCode(code) ?? extractMarkCode(code.replace(/[^A-Za-z0-9]/g, ''));
  if (!extracted) return null;
  if (extracted.kind === 'serial')
    return hasValidSerialCheckDigits(extracted.serial) ? extracted.serial : null;
  try {
    const decoded = decodeMarkCode(extracted.code);
    return decoded.serialCheckDigitsValid ? decoded.serial : null;
  } catch {
    return null;
  }
}

/**
 * Consumers' reports of a suspicious product or certificate (SPEC "Supervision"). A report is
 * filed against what it names — a mark, a registered certificate, an unregistered number — so
 * reports about one thing, and the verifications that flagged it, meet on the same subject; a
 * report naming nothing recognisable is its own subject.
 */
export class ReportsService {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly serials: MarkSerialCipher,
  ) {}

  async fileReport(input: ReportInput): Promise<{ id: string; alertId: string }> {
    const at = this.clock.now();
    const id = randomUUID();
    // What the reporter scanned may be a genuine mark's URL or code, and supervisors must not
    // obtain it (SPEC "Product marks": whoever holds a code can print copies of it). The report is
    // filed against the mark's serial (its subject); what is kept of the code is its prefix, and a
    // URL keeps its host (a fake site is worth knowing). The reporter's words and contact are cut
    // the same way: a consumer may paste the link there too.
    const code = input.code === undefined ? undefined : redactText(input.code);
    const description = input.description === undefined ? '' : redactText(input.description);
    const contact = input.contact === undefined ? null : redactText(input.contact);
    return this.db.transaction(async (tx) => {
      const { numberHolders, ...target } = await this.subjectOf(tx, id, input);
      const alert = await openOrCountAlert(tx, {
        ...target,
        reason: REPORTED,
        severity: 'suspicious',
        at,
        region: input.region,
        channel: 'report',
        verdict: 'reported',
        reasons: [
          { code: REPORTED, message: 'a consumer reported a suspicious product or certificate' },
        ],
        context: {
          reportId: id,
          code,
          certificateNumber: input.certificateNumber,
          certificateId: input.certificateId,
          // The issuers holding the number (a context keeps strings: their ids, comma-separated).
          numberHolders: numberHolders?.map((h) => h.id).join(','),
          ...input.point,
        },
      });
      await insertReport(tx, {
        id,
        code: code ?? null,
        certificateNumber: input.certificateNumber ?? null,
        description,
        region: input.region ?? null,
        contact,
        subjectType: target.subjectType,
        subject: target.subject,
        alertId: alert.id,
        createdAt: at,
      });
      await auditOpenedAlerts(tx, systemActor, [alert]);
      // The description and contact stay out of the change: they are the reporter's words and data.
      await appendAuditEntry(tx, at, {
        actor: systemActor,
        action: 'report.create',
        subjectType: 'report',
        subjectId: id,
        change: {
          alertId: alert.id,
          subjectType: target.subjectType,
          subject: target.subject,
          region: input.region ?? null,
        },
      });
      return { id, alertId: alert.id };
    });
  }

  private async subjectOf(
    tx: Queryable,
    reportId: string,
    input: ReportInput,
  ): Promise<ReportSubject> {
    let certificate: { id: string; issuerId: string } | null = null;
    let number: string | null = null;
    /** The issuers holding the number, when it names several of them and no issuer was given. */
    let holders: NumberHolder[] = [];
    if (input.certificateId !== undefined) {
      const found = await findCertificate(tx, input.certificateId);
      if (found) certificate = { id: found.certificate.id, issuerId: found.issuer.id };
    }
    if (!certificate && input.certificateNumber !== undefined) {
      number = input.certificateNumber;
      const matches = await findCertificatesByNumber(tx, { number, issuerId: input.issuerId });
      if (matches.length === 1)
        certificate = { id: matches[0]!.certificate.id, issuerId: matches[0]!.issuer.id };
      if (matches.length > 1) holders = numberHolders(matches);
    }
    const serial = input.code !== undefined ? markSerialOf(input.code) : null;
    // A registered mark links the report to its certificate and issuer, so supervisors filtering
    // alerts by either find it.
    if (serial && !certificate) {
      const mark = await findMarkWithBatch(tx, { serial, ...this.serials.locate(serial) });
      if (mark) certificate = { id: mark.certificateId, issuerId: mark.issuerId };
    }
    const linked = {
      issuerId: certificate?.issuerId ?? null,
      certificateId: certificate?.id ?? null,
    };
    if (serial) return { subjectType: 'mark', subject: serial, ...linked };
    if (certificate) return { subjectType: 'certificate', subject: certificate.id, ...linked };
    // A number several issuers hold must not be filed as a number nobody holds, nor against one of
    // theirs at a guess. (A report of a mark or a registered certificate is filed against that,
    // the number beside it.) Beside a code or a link that resolves to nothing (a counterfeit
    // label's), the report is filed on its own, the number's holders noted for supervisors: it is
    // not refused over what the reporter cannot know.
    if (holders.length > 0) {
      if (input.code !== undefined || input.certificateId !== undefined)
        return { subjectType: 'report', subject: reportId, ...linked, numberHolders: holders };
      // Naming nothing but that number, the reporter is asked which issuer's, as verification asks.
      throw ambiguousNumber(holders);
    }
    // The convention of certificate verification for a number the registry does not resolve.
    if (number !== null) return { subjectType: 'code', subject: `number:${number}`, ...linked };
    // A certificate link (/c/{id}) to no registered certificate: reports of it meet on the id.
    if (input.certificateId !== undefined)
      return { subjectType: 'code', subject: `certificate:${input.certificateId}`, ...linked };
    return { subjectType: 'report', subject: reportId, ...linked };
  }
}
