import { createHash } from 'node:crypto';
import type { Database } from '../db/client';
import type { Clock } from '../clock';
import { canonicalJson } from '../crypto/canonical-json';
import { isKid, verifyEd25519ByOpenssl } from '../crypto/ed25519';
import {
  parseCredentialJws,
  verifyCredentialSignature,
  type ParsedCredentialJws,
} from '../crypto/credential-jws';
import { certificateView, type CertificateView } from '../certificates/certificate-view';
import { ambiguousNumber, numberHolders } from '../certificates/ambiguous-number';
import { credentialSubjectOf } from '../certificates/credential';
import { issuerUrl } from '../crypto/issuer-identifier';
import {
  findCertificatesByNumber,
  typedNumberForms,
  type CertificateWithIssuer,
} from '../certificates/certificates.queries';
import { endOfChinaDay } from '../shared/dates';
import { alertSubjectOf, type AlertSink } from './alert-sink';
import {
  certificateFactsAt,
  certificateFindings,
  type PresentationContext,
} from './certificate-findings';
import { CertificateContents } from './certificate-contents';
import { LookupBatcher } from './lookup-batcher';
import {
  findKeysAndCertificates,
  type KeyAndCertificateLookup,
  type RegistryState,
} from './verification.queries';
import {
  raisesAlert,
  reason,
  verdictOf,
  type Reason,
  type Verdict,
  type VerdictObserver,
} from './verdict';

export interface VerifyCertificateRequest {
  credential?: string | undefined;
  number?: string | undefined;
  issuerId?: string | undefined;
  presenter?: { uscc: string } | undefined;
  product?: { model: string } | undefined;
  /** A day (YYYY-MM-DD) or an instant: "was it valid then". */
  at?: string | undefined;
}

export interface CertificateVerification {
  verdict: Verdict;
  reasons: Reason[];
  certificate?: CertificateView;
  checkedAt: string;
  at?: string;
}

const UUID_URN = /^urn:uuid:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;

/** The outcome of checking a credential's signature and its claim against the registry. */
type CredentialCheck = {
  reasons: Reason[];
  found?: CertificateWithIssuer;
  /** The published key the credential's header names, when there is one. */
  claimedKey?: { kid: string; issuerId: string };
};

/** Verifying a certificate for anyone: by its signed credential, or by its number. */
export class VerificationService {
  /** Credential checks' reads of the registry, shared by those that arrive together. */
  private readonly registry: LookupBatcher<KeyAndCertificateLookup, RegistryState | undefined>;
  /** What never changes in a certificate, so a check reads only what can. */
  private readonly contents: CertificateContents;

  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly baseUrl: string,
    private readonly alerts: AlertSink,
    private readonly onVerdict: VerdictObserver = () => {},
  ) {
    this.registry = new LookupBatcher((lookups) => findKeysAndCertificates(db, lookups));
    this.contents = new CertificateContents(db);
  }

  async verifyCertificate(request: VerifyCertificateRequest): Promise<CertificateVerification> {
    const now = this.clock.now();
    const historical = request.at !== undefined;
    const instant = request.at ? instantOf(request.at) : now;
    const context: PresentationContext = {
      presenterUscc: request.presenter?.uscc,
      model: request.product?.model,
      // An exemption used up covers no import any more (judged now only: see CertificateFacts).
      quantity: 1,
    };

    let check: CredentialCheck;
    if (request.credential !== undefined) {
      check = await this.checkCredential(request.credential);
      // A credential offered as some other certificate is passed off as what it is not.
      const certificate = check.found?.certificate;
      if (
        certificate &&
        request.number !== undefined &&
        !typedNumberForms(request.number).includes(certificate.number)
      ) {
        check.reasons.push(
          reason('REGISTRY_MISMATCH', 'the number given is not the credential’s number'),
        );
      }
      if (
        certificate &&
        request.issuerId !== undefined &&
        request.issuerId.toLowerCase() !== certificate.issuerId
      ) {
        check.reasons.push(
          reason('REGISTRY_MISMATCH', 'the issuer given is not the credential’s issuer'),
        );
      }
    } else {
      check = await this.lookUpNumber(request.number!, request.issuerId);
    }

    const reasons = [...check.reasons];
    if (check.found) {
      const facts = await certificateFactsAt(this.db, check.found, instant, { historical });
      reasons.push(...certificateFindings(facts, context));
    }
    const verdict = verdictOf(reasons);
    const answer: CertificateVerification = {
      verdict,
      reasons,
      ...(check.found
        ? { certificate: certificateView(check.found.certificate, check.found.issuer, now) }
        : {}),
      checkedAt: now.toISOString(),
      ...(historical ? { at: instant.toISOString() } : {}),
    };
    this.onVerdict('certificate', verdict, reasons);
    if (raisesAlert(reasons)) await this.raiseAlert(request, check, answer, now);
    return answer;
  }

  /**
   * Signature first, then the registry: a credential is genuine only if a published key of its
   * issuer signed exactly what the registry holds.
   */
  private async checkCredential(jws: string): Promise<CredentialCheck> {
    const parsed = parseCredentialJws(jws);
    if (!parsed.ok) {
      return parsed.kind === 'policy'
        ? {
            reasons: [
              reason(
                'BAD_SIGNATURE',
                `refused JWS header (${parsed.problem.replaceAll('_', ' ')})`,
              ),
            ],
          }
        : {
            reasons: [
              reason(
                'MALFORMED',
                `not a certmark credential (${parsed.problem.replaceAll('_', ' ')})`,
              ),
            ],
          };
    }
    const credential = parsed.value;
    // The registry is asked for the key and the certificate at once (one round trip, shared with
    // the checks that arrive meanwhile): both are needed on the genuine path. A kid that is not a
    // key id certmark issues (an RFC 7638 thumbprint) names no published key: it is answered
    // without asking, so it never reaches a statement shared with other checks (a NUL in it made
    // PostgreSQL refuse the statement: a 500).
    const lookup = isKid(credential.header.kid)
      ? await this.registry.find({
          kid: credential.header.kid,
          certificateId: certificateIdOf(credential.payload),
        })
      : undefined;
    // A compromised key has left the JWKS: what it signs is no longer evidence of anything.
    if (!lookup || lookup.key.status === 'compromised') {
      return {
        reasons: [reason('UNKNOWN_KEY', 'the signing key is not a published certmark key')],
      };
    }
    const { key } = lookup;
    const found = lookup.certificate ? await this.contents.current(lookup.certificate) : undefined;
    const claimedKey = { kid: credential.header.kid, issuerId: key.issuerId };
    // OpenSSL's no is final unless noble's cofactored rule says yes (a signature only the key's
    // holder can make), and that can change the verdict only for a certificate of the registry
    // that this key's issuer holds: only then pay noble's ~1 ms (see verifyEd25519ByOpenssl).
    const couldBeGenuine = found !== undefined && found.certificate.issuerId === key.issuerId;
    const signed = couldBeGenuine
      ? verifyCredentialSignature(credential, key.publicKey)
      : verifyEd25519ByOpenssl(key.publicKey, credential.signingInput, credential.signature);
    if (!signed) {
      return { reasons: [reason('BAD_SIGNATURE', 'the signature does not verify')], claimedKey };
    }
    return { ...this.matchRegistry(jws, credential, key.issuerId, found), claimedKey };
  }

  private matchRegistry(
    jws: string,
    credential: ParsedCredentialJws,
    keyIssuerId: string,
    found: CertificateWithIssuer | undefined,
  ): CredentialCheck {
    const payload = credential.payload;
    const claimedIssuer = typeof payload.iss === 'string' ? payload.iss : undefined;
    if (claimedIssuer !== issuerUrl(this.baseUrl, keyIssuerId)) {
      return {
        reasons: [reason('UNKNOWN_ISSUER', 'the credential names an issuer that did not sign it')],
      };
    }
    if (!found || found.certificate.issuerId !== keyIssuerId) {
      return { reasons: [reason('NOT_IN_REGISTRY', 'no such certificate in the registry')] };
    }
    // The very credential the registry issued needs no comparison; any other genuine signature
    // (an older or re-signed credential) must carry exactly the registry's content.
    if (jws.trim() === found.certificate.credential) return { reasons: [], found };
    const signed = payload.credentialSubject;
    if (
      payload.id !== payload.jti ||
      canonicalJson(signed) !== canonicalJson(credentialSubjectOf(found.certificate))
    ) {
      return {
        reasons: [
          reason('REGISTRY_MISMATCH', 'the signed content differs from the registry record'),
        ],
        found,
      };
    }
    return { reasons: [], found };
  }

  private async lookUpNumber(
    number: string,
    issuerId: string | undefined,
  ): Promise<CredentialCheck> {
    const matches = await findCertificatesByNumber(this.db, { number, issuerId });
    if (matches.length === 0) {
      return {
        reasons: [reason('NOT_IN_REGISTRY', `no certificate numbered ${number} in the registry`)],
      };
    }
    if (matches.length > 1) {
      throw ambiguousNumber(numberHolders(matches));
    }
    return { reasons: [], found: matches[0]! };
  }

  private async raiseAlert(
    request: VerifyCertificateRequest,
    check: CredentialCheck,
    answer: CertificateVerification,
    at: Date,
  ): Promise<void> {
    const subject = alertSubjectOf({
      record: check.found && { type: 'certificate', id: check.found.certificate.id },
      claimedKid: check.claimedKey?.kid,
      channel: 'verify.certificate',
    });
    // raise() never rejects: a finding it cannot store at once is retried, or logged and counted.
    await this.alerts.raise({
      ...subject,
      verdict: answer.verdict,
      reasons: answer.reasons,
      issuerId: check.found?.issuer.id ?? check.claimedKey?.issuerId ?? null,
      certificateId: check.found?.certificate.id ?? null,
      channel: 'verify.certificate',
      at,
      context: {
        presenter: request.presenter?.uscc,
        model: request.product?.model,
        number: request.number,
        // Which forged credential, without the credential: the first 16 hex of its SHA-256.
        credentialSha256:
          request.credential === undefined || check.found
            ? undefined
            : createHash('sha256').update(request.credential).digest('hex').slice(0, 16),
      },
    });
  }
}

/** The certificate id a credential claims (its `jti`, `urn:uuid:<id>`). */
function certificateIdOf(payload: Record<string, unknown>): string | undefined {
  return typeof payload.jti === 'string'
    ? UUID_URN.exec(payload.jti)?.[1]?.toLowerCase()
    : undefined;
}

/** `at` as an instant: a bare day means the end of that day in China Standard Time. */
function instantOf(at: string): Date {
  return /^\d{4}-\d{2}-\d{2}$/.test(at) ? endOfChinaDay(at) : new Date(at);
}
