/**
 * Verdicts and reason codes (SPEC "Verification"). The verdict is the most severe class among the
 * findings; `authentic` exactly when there are none.
 */
export const reasonClasses = {
  MALFORMED: 'forged',
  BAD_SIGNATURE: 'forged',
  UNKNOWN_KEY: 'forged',
  UNKNOWN_ISSUER: 'forged',
  NOT_IN_REGISTRY: 'forged',
  REGISTRY_MISMATCH: 'forged',
  HOLDER_MISMATCH: 'misused',
  OUT_OF_SCOPE: 'misused',
  NOT_YET_VALID: 'invalid',
  EXPIRED: 'invalid',
  SUSPENDED: 'invalid',
  REVOKED: 'invalid',
  WITHDRAWN: 'invalid',
  ISSUER_SUSPENDED: 'invalid',
  MARK_VOID: 'invalid',
  QUANTITY_EXHAUSTED: 'invalid',
  SUSPECTED_CLONE: 'suspicious',
} as const;

export type ReasonCode = keyof typeof reasonClasses;
export type Verdict = 'forged' | 'misused' | 'invalid' | 'suspicious' | 'authentic';

/** Most severe first. */
export const verdictSeverity: readonly Verdict[] = [
  'forged',
  'misused',
  'invalid',
  'suspicious',
  'authentic',
];

export interface Reason {
  code: ReasonCode;
  message: string;
}

export function reason(code: ReasonCode, message: string): Reason {
  return { code, message };
}

export function verdictOf(reasons: readonly Reason[]): Verdict {
  let best = verdictSeverity.length - 1;
  for (const r of reasons) best = Math.min(best, verdictSeverity.indexOf(reasonClasses[r.code]));
  return verdictSeverity[best]!;
}

/** Verdicts that raise an alert for supervisors. */
export function isAlerting(verdict: Verdict): boolean {
  return verdict === 'forged' || verdict === 'misused' || verdict === 'suspicious';
}

/**
 * Whether an answer raises an alert: it has a forged, misused or suspicious finding. Its verdict
 * alone would miss one case: a suspected clone under an `invalid` verdict (a mark of a suspended
 * certificate, or a voided mark, copied and scanned far and wide), which supervisors must see, and
 * whose flag only the resolution of its alert clears.
 */
export function raisesAlert(reasons: readonly Reason[]): boolean {
  return reasons.some((r) => isAlerting(reasonClasses[r.code]));
}

/** What was verified: a certificate, a product mark, or an exemption at customs. */
export type VerdictSubject = 'certificate' | 'mark' | 'exemption';

/**
 * Told of every verification answer given (the operator's metrics count them by verdict and
 * reason); it must not throw or wait.
 */
export type VerdictObserver = (
  subject: VerdictSubject,
  verdict: Verdict,
  reasons: readonly Reason[],
) => void;
