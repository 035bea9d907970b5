import type { Reason, Verdict } from './verdict';

/** What a verification (or a customs check) tells supervisors about one alerting finding set. */
export interface AlertSignal {
  /** What the alert is about: a mark serial, a certificate id, or a hash of a presented code/credential. */
  subjectType: 'mark' | 'certificate' | 'credential' | 'code' | 'report';
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
  raise(signal: AlertSignal): Promise<void>;
}
