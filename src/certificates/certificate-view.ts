import type { CertificateRow, CertificateStatus } from '../db/schema/certificates';
import type { IssuerRow } from '../db/schema/issuers';
import { chinaDay } from '../shared/dates';
import type { EffectiveStatus } from './certificates.schemas';

/**
 * The status a reader sees: a stored status other than `valid` wins; then a suspended issuer
 * (every certificate of a suspended body verifies `invalid`, ISSUER_SUSPENDED: the register says
 * `suspended` of each); a valid certificate outside its validity days is `not_yet_valid` or
 * `expired` (validUntil is the last valid day).
 */
export function effectiveStatus(
  cert: Pick<CertificateRow, 'validFrom' | 'validUntil'> & { status: CertificateStatus },
  at: Date,
  issuer?: Pick<IssuerRow, 'status'>,
): EffectiveStatus {
  if (cert.status !== 'valid') return cert.status;
  if (issuer && issuer.status !== 'active') return 'suspended';
  const day = chinaDay(at);
  if (day < cert.validFrom) return 'not_yet_valid';
  if (day > cert.validUntil) return 'expired';
  return 'valid';
}

export type CertificateView = ReturnType<typeof certificateView>;

/**
 * The public view (SPEC "Certificates"): everything a verifier may see, never key material. The
 * status reason and time are those of the effective status: the issuer's when its suspension is
 * what suspends the certificate.
 */
export function certificateView(cert: CertificateRow, issuer: IssuerRow, now: Date) {
  const byIssuer = cert.status === 'valid' && issuer.status !== 'active';
  const changed = byIssuer ? issuer : cert;
  return {
    id: cert.id,
    number: cert.number,
    scheme: cert.scheme,
    status: effectiveStatus(cert, now, issuer),
    holder: cert.holder,
    manufacturer: cert.manufacturer ?? null,
    factories: cert.factories,
    scope: cert.scope,
    standards: cert.standards,
    issuer: {
      id: issuer.id,
      name: issuer.name,
      accreditationNo: issuer.accreditationNo,
      status: issuer.status,
    },
    signatory: cert.signatory,
    validFrom: cert.validFrom,
    validUntil: cert.validUntil,
    statusReason: changed.statusReason,
    statusChangedAt: changed.statusChangedAt?.toISOString() ?? null,
    issuedAt: cert.createdAt.toISOString(),
    ...(cert.quantity !== null
      ? {
          quantity: cert.quantity,
          remaining: cert.remaining ?? 0,
          purpose: cert.purpose ?? undefined,
        }
      : {}),
  };
}
