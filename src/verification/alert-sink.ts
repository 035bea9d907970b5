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
