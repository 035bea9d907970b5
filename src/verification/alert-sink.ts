import type { Reason, Verdict } from './verdict';

/** What a verification (or a customs check) tells supervisors about one alerting finding set. */
export interface AlertSignal {
  /**
   * What the alert is about: a mark serial, a certificate id, a hash of a presented
   * code/credential, or, for forgeries that name no record of the registry, the published key
   * they claim (`signing_key`, its kid) or the channel they came by (`unattributed`).
   */
  subjectType:
    'mark' | 'certificate' | 'credential' | 'code' | 'report' | 'signing_key' | 'unattributed';
  subject: string;
  verdict: Verdict;
  reasons: Reason[];
  issuerId?: string | null;
  certificateId?: string | null;
  region?: string | null;
  /** Where the finding came from: 'verify.certificate' | 'verify.mark' | 'customs.consume' | 'report'. */
  channel: string;
  at: Date;
  /** Free-form context kept with the alert (presenter, model, declaration…), never a full credential. */
  context?: Record<string, unknown>;
}

/**
 * Receives alerting findings. Verification calls it for every `forged`, `misused` and `suspicious`
 * answer; the supervision feature stores them (one open alert per subject and reason).
 */
export interface AlertSink {
  /**
   * Resolves once the finding is stored, or queued for a retry when it cannot be stored now.
   * Never rejects: an alert must neither turn an answer into an error nor be dropped silently
   * (what is lost in the end is logged and counted by the sink).
   */
  raise(signal: AlertSignal): Promise<void>;
}

/**
 * What an alert about a verification is about (SPEC: one open alert per subject and reason,
 * counting repeats). A record of the registry — a mark, a certificate — is its own subject. A
 * forgery that names none (an invented serial or number, a code or credential that is none at all)
 * is counted on the published key it claims (`signing_key`, its kid), or, claiming none, on the
 * channel it came by (`unattributed`): anyone can invent serials and credentials without end, and
 * one alert opened and audited per invention would let a forger make supervisors' list, the audit
 * log and the database pay for each one. What was presented stays in the scan log or the alert's
 * context (its first and latest).
 */
export function alertSubjectOf(finding: {
  record?: { type: 'mark' | 'certificate'; id: string } | undefined;
  claimedKid?: string | undefined;
  channel: 'verify.mark' | 'verify.certificate';
}): Pick<AlertSignal, 'subjectType' | 'subject'> {
  if (finding.record) return { subjectType: finding.record.type, subject: finding.record.id };
  if (finding.claimedKid) return { subjectType: 'signing_key', subject: finding.claimedKid };
  return { subjectType: 'unattributed', subject: finding.channel };
}
