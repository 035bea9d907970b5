import { parseCredentialJws } from '../crypto/credential-jws-core';
import { verifyEd25519Offline } from '../crypto/ed25519-core';
import { issuerUrl } from '../crypto/issuer-identifier';
import {
  bundledBit,
  readOfflineBundle,
  voidedMarkDigest,
  type OfflineBundle,
} from '../crypto/offline-bundle';
import { verifyMarkOffline, type Jwks } from '../crypto/offline-mark';

/**
 * Offline verification with a bundle (SPEC "Offline bundle"): a scanned mark or a certificate's
 * credential, checked with no network against a bundle's keys and status lists. The browser entry
 * point (`/verify/offline` ships this module, bundled) and what `certmark verify --bundle` runs:
 * pure JavaScript, no `node:` import, no `Buffer`.
 *
 * Every answer says how old its status information is. Past the bundle's `freshUntil`, or when
 * the bundle holds no list for the credential, status is unknown: the verdict is `status_unknown`,
 * never `authentic`. A signature that does not hold is `forged` whatever the age; a certificate
 * past its `validUntil` is `invalid` whatever the age (that is written in the credential itself).
 */

export { readOfflineBundle, verifyMarkOffline };
export type { Jwks, OfflineBundle };

/** Most severe first, as the online verdicts (SPEC "Verification"), plus what offline adds. */
export type OfflineVerdict =
  'forged' | 'invalid' | 'status_unknown' | 'not_checkable' | 'authentic';

export type OfflineReasonCode =
  | 'MALFORMED'
  | 'BAD_SIGNATURE'
  | 'UNKNOWN_KEY'
  | 'UNKNOWN_ISSUER'
  | 'NOT_YET_VALID'
  | 'EXPIRED'
  | 'REVOKED'
  | 'SUSPENDED'
  | 'ISSUER_SUSPENDED'
  | 'MARK_VOID'
  | 'STATUS_UNKNOWN'
  | 'ISSUER_NOT_IN_BUNDLE'
  | 'SERIAL_ONLY'
  | 'SERIAL_CHECK_FAILED'
  | 'CERTIFICATE_LINK';

export interface OfflineReason {
  code: OfflineReasonCode;
  message: string;
}

/** How old the status information behind an answer is. */
export interface StatusAge {
  /** When the bundle was made: its status lists are as of then. */
  asOf: string;
  ageSeconds: number;
  freshUntil: string;
  /** False past `freshUntil`: status unknown. */
  fresh: boolean;
  /**
   * Set when the verifier's clock reads earlier than the bundle was made (by more than a minute):
   * by how much. The answer is then judged as of the bundle's time, which the signed bundle proves
   * has passed (a clock set back would otherwise find an expired certificate valid and an old
   * bundle fresh).
   */
  clockBehindSeconds?: number;
}

export interface OfflineAnswer {
  kind: 'mark' | 'credential';
  verdict: OfflineVerdict;
  reasons: OfflineReason[];
  status: StatusAge;
  issuer?: { id: string; name: string };
  kid?: string;
  serial?: string;
  certificate?: {
    id?: string;
    number?: string;
    scheme?: string;
    holder?: string;
    validFrom?: string;
    validUntil?: string;
  };
}

const SEVERITY: Record<OfflineReasonCode, OfflineVerdict> = {
  MALFORMED: 'forged',
  BAD_SIGNATURE: 'forged',
  UNKNOWN_KEY: 'forged',
  UNKNOWN_ISSUER: 'forged',
  NOT_YET_VALID: 'invalid',
  EXPIRED: 'invalid',
  REVOKED: 'invalid',
  SUSPENDED: 'invalid',
  ISSUER_SUSPENDED: 'invalid',
  MARK_VOID: 'invalid',
  STATUS_UNKNOWN: 'status_unknown',
  ISSUER_NOT_IN_BUNDLE: 'not_checkable',
  SERIAL_ONLY: 'not_checkable',
  SERIAL_CHECK_FAILED: 'not_checkable',
  CERTIFICATE_LINK: 'not_checkable',
};
const ORDER: OfflineVerdict[] = ['forged', 'invalid', 'status_unknown', 'not_checkable'];

function verdictOf(reasons: readonly OfflineReason[]): OfflineVerdict {
  const found = new Set(reasons.map((r) => SEVERITY[r.code]));
  return ORDER.find((v) => found.has(v)) ?? 'authentic';
}

export function statusAge(bundle: OfflineBundle, now: Date): StatusAge {
  const behind = Math.floor((bundle.createdAt.getTime() - now.getTime()) / 1000);
  return {
    asOf: bundle.createdAt.toISOString(),
    ageSeconds: Math.max(0, -behind),
    freshUntil: bundle.freshUntil.toISOString(),
    fresh: now.getTime() <= bundle.freshUntil.getTime(),
    ...(behind > CLOCK_SLACK_SECONDS ? { clockBehindSeconds: behind } : {}),
  };
}

/** How far a verifier's clock may read before the bundle's making without a word (clock drift). */
const CLOCK_SLACK_SECONDS = 60;

/** The type every certificate credential carries (src/certificates/credential.ts CREDENTIAL_TYPE). */
export const CERTIFICATE_CREDENTIAL_TYPE = 'QualityCertificationCredential';

/** A credential is three base64url segments; anything else is read as a mark. */
const looksLikeJws = (input: string) =>
  /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(input);

/**
 * A certificate's QR link (`…/c/{id}`, any host and case, a trailing slash, query or fragment):
 * its id, which carries no signature and no content to check without the registry.
 */
const CERTIFICATE_LINK =
  /\/c\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/?(?:[?#].*)?$/i;

/**
 * Checks a scanned mark (URL, code, typed serial) or a certificate credential (compact JWS)
 * against a bundle read by {@link readOfflineBundle}, as of `now`. Never throws.
 */
export function verifyOffline(input: string, bundle: OfflineBundle, clock: Date): OfflineAnswer {
  const text = String(input ?? '').trim();
  // The signed bundle proves its making has passed: a clock that reads earlier is wrong, and the
  // answer is judged as of the bundle's time (statusAge still says how far behind the clock is).
  const now = clock.getTime() < bundle.createdAt.getTime() ? bundle.createdAt : clock;
  const answerOf = (answer: OfflineAnswer): OfflineAnswer => ({
    ...answer,
    status: statusAge(bundle, clock),
  });
  const link = CERTIFICATE_LINK.exec(text);
  if (link) {
    // What a certificate's QR code holds: not a mark, and nothing to judge offline (it was
    // answered forged, a genuine certificate's own link).
    const reasons: OfflineReason[] = [
      {
        code: 'CERTIFICATE_LINK',
        message:
          'a certificate’s link carries no signature: open it online, where its page shows it from the registry',
      },
    ];
    return answerOf({
      kind: 'credential',
      verdict: verdictOf(reasons),
      reasons,
      status: statusAge(bundle, clock),
      certificate: { id: link[1]!.toLowerCase() },
    });
  }
  try {
    return answerOf(
      looksLikeJws(text) ? verifyCredential(text, bundle, now) : verifyMark(text, bundle, now),
    );
  } catch {
    // Nothing above should throw; if it does, the answer is a refusal, never a crash.
    const reasons = [{ code: 'MALFORMED' as const, message: 'could not be read' }];
    return { kind: 'credential', verdict: 'forged', reasons, status: statusAge(bundle, clock) };
  }
}

const issuerSuspended: OfflineReason = {
  code: 'ISSUER_SUSPENDED',
  message: 'the certification body was suspended when the bundle was made',
};

function staleReason(age: StatusAge): OfflineReason {
  return {
    code: 'STATUS_UNKNOWN',
    message: `the bundle’s status information is from ${age.asOf}, past its limit (${age.freshUntil})`,
  };
}

function verifyMark(input: string, bundle: OfflineBundle, now: Date): OfflineAnswer {
  const status = statusAge(bundle, now);
  const answer = (reasons: OfflineReason[], extra: Partial<OfflineAnswer> = {}): OfflineAnswer => ({
    kind: 'mark',
    verdict: verdictOf(reasons),
    reasons,
    status,
    ...extra,
  });
  const result = verifyMarkOffline(input, bundle.jwks);
  if (!result.ok) {
    if (result.reason === 'NOT_CHECKABLE_OFFLINE')
      return answer([{ code: result.detail, message: result.message }], { serial: result.serial });
    if (result.reason === 'UNKNOWN_KEY' && bundle.issuers !== null)
      return answer(
        [
          {
            code: 'ISSUER_NOT_IN_BUNDLE',
            message: `this bundle holds the keys of ${bundle.issuers.length} chosen issuer(s) only`,
          },
        ],
        result.serial === undefined ? {} : { serial: result.serial },
      );
    return answer(
      [{ code: result.reason, message: result.message }],
      result.serial === undefined ? {} : { serial: result.serial },
    );
  }
  const extra = {
    serial: result.serial,
    kid: result.kid,
    issuer: { id: result.issuer, name: result.issuerName },
  };
  const voided = bundle.voided.get(voidedMarkDigest(result.serial));
  // The issuer-signed bit is the evidence; the bundle only says where to look.
  const voidList = voided && bundle.lists.get(voided.list);
  const voidBit =
    voided && voidList && voidList.issuerId === result.issuer
      ? bundledBit(voidList, voided.position)
      : undefined;
  // A void mark stays void: a bundle past its limit still knows that much.
  if (voidBit)
    return answer([{ code: 'MARK_VOID', message: 'the issuer voided this mark' }], extra);
  if (!status.fresh) return answer([staleReason(status)], extra);
  if (bundle.suspendedIssuers.has(result.issuer)) return answer([issuerSuspended], extra);
  if (voided && voidBit === undefined)
    return answer(
      [{ code: 'STATUS_UNKNOWN', message: 'the mark’s batch list is not in the bundle' }],
      extra,
    );
  if (bundle.issuers !== null && !bundle.issuers.includes(result.issuer))
    return answer(
      [{ code: 'STATUS_UNKNOWN', message: 'the bundle holds no status of this mark’s issuer' }],
      extra,
    );
  return answer([], extra);
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function verifyCredential(jws: string, bundle: OfflineBundle, now: Date): OfflineAnswer {
  const status = statusAge(bundle, now);
  const answer = (reasons: OfflineReason[], extra: Partial<OfflineAnswer> = {}): OfflineAnswer => ({
    kind: 'credential',
    verdict: verdictOf(reasons),
    reasons,
    status,
    ...extra,
  });
  const parsed = parseCredentialJws(jws);
  if (!parsed.ok)
    return answer([
      parsed.kind === 'policy'
        ? {
            code: 'BAD_SIGNATURE',
            message: `refused JWS header (${parsed.problem.replaceAll('_', ' ')})`,
          }
        : {
            code: 'MALFORMED',
            message: `not a certmark credential (${parsed.problem.replaceAll('_', ' ')})`,
          },
    ]);
  const credential = parsed.value;
  const key = bundle.keys.find((k) => k.kid === credential.header.kid);
  if (!key) {
    return answer([
      bundle.issuers !== null
        ? {
            code: 'ISSUER_NOT_IN_BUNDLE',
            message: `this bundle holds the keys of ${bundle.issuers.length} chosen issuer(s) only`,
          }
        : { code: 'UNKNOWN_KEY', message: 'the signing key is not a published certmark key' },
    ]);
  }
  if (!verifyEd25519Offline(key.publicKey, credential.signingInput, credential.signature))
    return answer([{ code: 'BAD_SIGNATURE', message: 'the signature does not verify' }]);
  const payload = credential.payload;
  // A status list or any other credential the issuer signed is not a certificate.
  if (!Array.isArray(payload.type) || !payload.type.includes(CERTIFICATE_CREDENTIAL_TYPE))
    return answer([{ code: 'MALFORMED', message: 'not a certificate credential' }]);
  if (payload.iss !== issuerUrl(bundle.service, key.issuer))
    return answer([
      { code: 'UNKNOWN_ISSUER', message: 'the credential names an issuer that did not sign it' },
    ]);

  const subject = isRecord(payload.credentialSubject) ? payload.credentialSubject : {};
  const certificate = isRecord(subject.certificate) ? subject.certificate : {};
  const holder = isRecord(certificate.holder) ? certificate.holder : {};
  const str = (value: unknown) => (typeof value === 'string' ? value : undefined);
  const extra: Partial<OfflineAnswer> = {
    kid: key.kid,
    issuer: { id: key.issuer, name: key.issuerName },
    certificate: {
      id: str(payload.id),
      number: str(certificate.number),
      scheme: str(certificate.scheme),
      holder: str(holder.name),
      validFrom: str(payload.validFrom),
      validUntil: str(payload.validUntil),
    },
  };

  const reasons: OfflineReason[] = [];
  // Validity dates are in the signed credential: known offline whatever the bundle's age.
  const validFrom = Date.parse(String(payload.validFrom));
  const validUntil = Date.parse(String(payload.validUntil));
  if (Number.isFinite(validFrom) && now.getTime() < validFrom)
    reasons.push({ code: 'NOT_YET_VALID', message: `valid from ${String(payload.validFrom)}` });
  if (Number.isFinite(validUntil) && now.getTime() > validUntil)
    reasons.push({ code: 'EXPIRED', message: `expired at ${String(payload.validUntil)}` });

  if (!status.fresh) {
    // Revoked and withdrawn are final: a bundle past its limit still knows a set revocation bit.
    // Anything else it says (suspended, or not revoked) may have changed since.
    if (revocationBitSet(payload.credentialStatus, bundle, key.issuer))
      reasons.push({
        code: 'REVOKED',
        message: 'revoked or withdrawn (its revocation bit is set)',
      });
    reasons.push(staleReason(status));
    return answer(reasons, extra);
  }
  // While its issuer is suspended, every suspension bit of it is set: the bit then says nothing of
  // the certificate's own status, and the answer names the issuer, as online.
  const issuerIsSuspended = bundle.suspendedIssuers.has(key.issuer);
  if (issuerIsSuspended) reasons.push(issuerSuspended);
  const entries = Array.isArray(payload.credentialStatus)
    ? payload.credentialStatus
    : payload.credentialStatus === undefined
      ? []
      : [payload.credentialStatus];
  const checked = new Set<string>();
  for (const entry of entries) {
    if (!isRecord(entry) || entry.type !== 'BitstringStatusListEntry') continue;
    const purpose = entry.statusPurpose;
    const list = bundle.lists.get(String(entry.statusListCredential));
    const bit =
      list && list.issuerId === key.issuer && list.purpose === purpose
        ? bundledBit(list, Number(entry.statusListIndex))
        : undefined;
    if (list?.validUntil && list.validUntil.getTime() < now.getTime()) {
      reasons.push({ code: 'STATUS_UNKNOWN', message: 'the bundle’s status list has expired' });
      continue;
    }
    if (bit === undefined) {
      reasons.push({
        code: 'STATUS_UNKNOWN',
        message: `no ${String(purpose)} list for it in the bundle`,
      });
      continue;
    }
    checked.add(String(purpose));
    if (bit && purpose === 'revocation')
      reasons.push({
        code: 'REVOKED',
        message: 'revoked or withdrawn (its revocation bit is set)',
      });
    if (bit && purpose === 'suspension' && !issuerIsSuspended)
      reasons.push({
        code: 'SUSPENDED',
        message: 'suspended, or its issuer is (its suspension bit is set)',
      });
  }
  for (const purpose of ['revocation', 'suspension'])
    if (!checked.has(purpose) && !reasons.some((r) => r.code === 'STATUS_UNKNOWN'))
      reasons.push({ code: 'STATUS_UNKNOWN', message: `the credential has no ${purpose} entry` });
  return answer(reasons, extra);
}

/** Whether one of a credential's status entries is a revocation bit the bundle has, set. */
function revocationBitSet(status: unknown, bundle: OfflineBundle, issuerId: string): boolean {
  const entries = Array.isArray(status) ? status : status === undefined ? [] : [status];
  return entries.some((entry) => {
    if (!isRecord(entry) || entry.type !== 'BitstringStatusListEntry') return false;
    if (entry.statusPurpose !== 'revocation') return false;
    const list = bundle.lists.get(String(entry.statusListCredential));
    return (
      list?.issuerId === issuerId &&
      list.purpose === 'revocation' &&
      bundledBit(list, Number(entry.statusListIndex)) === true
    );
  });
}

/** An age in the largest whole unit that keeps it readable: "45 s", "12 min", "5 h", "3 days". */
export function formatAge(seconds: number, lang: 'en' | 'zh'): string {
  const s = Math.max(0, Math.floor(seconds));
  const [value, unit] =
    s < 120
      ? [s, lang === 'zh' ? '秒' : ' s']
      : s < 7_200
        ? [Math.floor(s / 60), lang === 'zh' ? '分钟' : ' min']
        : s < 172_800
          ? [Math.floor(s / 3_600), lang === 'zh' ? '小时' : ' h']
          : [Math.floor(s / 86_400), lang === 'zh' ? '天' : ' days'];
  return `${value}${unit}`;
}
