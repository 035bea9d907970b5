import type { CertificateRow, PartyJson } from '../db/schema/certificates';
import { contextUrl, VC_V2_CONTEXT } from '../credentials/context';
import type { StatusEntryJson } from '../status-lists/status-lists.service';
import { endOfChinaDay, startOfChinaDay } from '../shared/dates';
import { issuerUrl } from '../crypto/issuer-identifier';

/**
 * The W3C Verifiable Credential (Data Model 2.0) for a certificate. `credentialSubject` carries
 * the certificate's content; verification rebuilds it from the registry record and compares, so
 * a genuine signature over other content is caught (REGISTRY_MISMATCH).
 */
export const CREDENTIAL_TYPE = 'QualityCertificationCredential';

const compactParty = (p: PartyJson | null | undefined) =>
  p ? { name: p.name, uscc: p.uscc, country: p.country, address: p.address } : undefined;

/** What of a certificate its credential signs. */
export type SignedCertificateContent = Pick<
  CertificateRow,
  | 'number'
  | 'scheme'
  | 'holder'
  | 'manufacturer'
  | 'factories'
  | 'scope'
  | 'standards'
  | 'validFrom'
  | 'validUntil'
  | 'quantity'
  | 'purpose'
  | 'signatory'
>;

/** The signed content of a certificate, in a form that survives a JSON round trip unchanged. */
export function credentialSubjectOf(cert: SignedCertificateContent): Record<string, unknown> {
  return JSON.parse(
    JSON.stringify({
      type: 'CertifiedProductOrOrganization',
      certificate: {
        number: cert.number,
        scheme: cert.scheme,
        holder: compactParty(cert.holder),
        manufacturer: compactParty(cert.manufacturer),
        factories: cert.factories.map(compactParty),
        scope: cert.scope.map((s) => ({ product: s.product, models: s.models, hsCode: s.hsCode })),
        standards: cert.standards,
        validFrom: cert.validFrom,
        validUntil: cert.validUntil,
        quantity: cert.quantity ?? undefined,
        purpose: cert.purpose ?? undefined,
        signatory: { name: cert.signatory.name, title: cert.signatory.title },
      },
    }),
  ) as Record<string, unknown>;
}

export const credentialId = (certificateId: string) => `urn:uuid:${certificateId}`;

/**
 * The credential format a certificate's stored credential is in. Credentials of an older format
 * are signed again (same content, current claims) by `CertificatesService.upgradeCredentials`.
 * 2: VC-JOSE-COSE claims (`cty: vc`, no `nbf`, no `exp`), the certmark JSON-LD context.
 * 3: `credentialStatus` is W3C Bitstring Status List entries (revocation, suspension).
 */
export const CREDENTIAL_FORMAT = 3;

/**
 * The credential of a certificate as signed (VC-JOSE-COSE §3.1.1): the VC itself, plus `iss`
 * (= `issuer.id`), `jti` (= `id`) and `iat`, the signing time. The certificate's validity is the
 * credential's `validFrom`/`validUntil`; `iat`/`exp` are about the signature (VC-JOSE-COSE says so),
 * so there is no `nbf` (NOT RECOMMENDED there) and no `exp`: the signature does not expire, and a
 * standard JWT library with default time checks accepts an expired certificate's credential —
 * that the certificate is expired is the verifier's finding, from `validUntil` and its status.
 */
export function buildCredentialPayload(args: {
  certificate:
    | CertificateRow
    | (Omit<CertificateRow, 'credential' | 'credentialFormat' | 'createdAt'> & {
        createdAt?: Date;
      });
  issuerName: string;
  baseUrl: string;
  issuedAt: Date;
  /** Its BitstringStatusListEntry objects (revocation, suspension). */
  credentialStatus: readonly StatusEntryJson[];
}): Record<string, unknown> {
  const { certificate: cert, baseUrl } = args;
  const issuer = issuerUrl(baseUrl, cert.issuerId);
  const id = credentialId(cert.id);
  return {
    '@context': [VC_V2_CONTEXT, contextUrl(baseUrl)],
    type: ['VerifiableCredential', CREDENTIAL_TYPE],
    id,
    issuer: { id: issuer, name: args.issuerName },
    validFrom: startOfChinaDay(cert.validFrom).toISOString(),
    validUntil: endOfChinaDay(cert.validUntil).toISOString(),
    credentialSubject: credentialSubjectOf(cert),
    credentialStatus: args.credentialStatus,
    iss: issuer,
    jti: id,
    iat: Math.floor(args.issuedAt.getTime() / 1000),
  };
}
