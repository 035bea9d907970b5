import type { CertificateRow, PartyJson } from '../db/schema/certificates';
import { endOfChinaDay, startOfChinaDay } from '../shared/dates';

/**
 * The W3C Verifiable Credential (Data Model 2.0) for a certificate. `credentialSubject` carries
 * the certificate's content; verification rebuilds it from the registry record and compares, so
 * a genuine signature over other content is caught (REGISTRY_MISMATCH).
 */
export const CREDENTIAL_TYPE = 'QualityCertificationCredential';

const compactParty = (p: PartyJson | null | undefined) =>
  p ? { name: p.name, uscc: p.uscc, country: p.country, address: p.address } : undefined;

/** The signed content of a certificate, in a form that survives a JSON round trip unchanged. */
export function credentialSubjectOf(
  cert: Pick<
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
  >,
): Record<string, unknown> {
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
export const issuerUrl = (baseUrl: string, issuerId: string) => `${baseUrl}/v1/issuers/${issuerId}`;

export function buildCredentialPayload(args: {
  certificate:
    CertificateRow | (Omit<CertificateRow, 'credential' | 'createdAt'> & { createdAt?: Date });
  issuerName: string;
  baseUrl: string;
  issuedAt: Date;
}): Record<string, unknown> {
  const { certificate: cert, baseUrl } = args;
  const validFrom = startOfChinaDay(cert.validFrom);
  const validUntil = endOfChinaDay(cert.validUntil);
  const issuer = issuerUrl(baseUrl, cert.issuerId);
  const id = credentialId(cert.id);
  return {
    '@context': ['https://www.w3.org/ns/credentials/v2'],
    type: ['VerifiableCredential', CREDENTIAL_TYPE],
    id,
    issuer: { id: issuer, name: args.issuerName },
    validFrom: validFrom.toISOString(),
    validUntil: validUntil.toISOString(),
    credentialSubject: credentialSubjectOf(cert),
    credentialStatus: {
      id: `${baseUrl}/v1/certificates/${cert.id}`,
      type: 'CertmarkRegistryStatus',
    },
    iss: issuer,
    jti: id,
    iat: Math.floor(args.issuedAt.getTime() / 1000),
    nbf: Math.floor(validFrom.getTime() / 1000),
    exp: Math.floor(validUntil.getTime() / 1000),
  };
}
