import type { Database } from '../db/client';
import type { CertificateRow } from '../db/schema/certificates';
import type { IssuerRow } from '../db/schema/issuers';
import { findCertificate, type CertificateWithIssuer } from '../certificates/certificates.queries';
import type { RegistryState } from './verification.queries';
import { LoadingCache } from '../shared/loading-cache';

/** What can change of a certificate and its issuer, as a check just read it from the registry. */
export type RegisteredCertificate = NonNullable<RegistryState['certificate']>;
type CertificateContent = Omit<CertificateRow, keyof RegisteredCertificate['changeable']>;
type IssuerContent = Omit<IssuerRow, keyof RegisteredCertificate['issuer']>;
interface Content {
  certificate: CertificateContent;
  issuer: IssuerContent;
}

/**
 * The part of each certificate that never changes after issuance (number, holder, parties, scope,
 * standards, validity days, signatory, issuance time, its issuer's kind and schemes), kept so a
 * credential check reads only what can change (findKeysAndCertificates): its statuses, its stored
 * credential, an exemption's remaining quantity, its issuer's name and status. Those come fresh
 * from the registry on every check and are laid over this content, so what a check sees is
 * exactly the registry's row as it is now. (A mark scan reads row versions instead:
 * ./certificate-versions.)
 * Bounded: the oldest entries go first.
 */
export class CertificateContents {
  private readonly cache: LoadingCache<string, Content>;

  constructor(
    private readonly db: Database,
    options: { maxEntries?: number } = {},
  ) {
    this.cache = new LoadingCache({ maxEntries: options.maxEntries ?? 10_000 });
  }

  /**
   * The certificate the registry holds now with its issuer: the cached content under the state
   * just read. Undefined only if the certificate vanished between the two reads.
   */
  async current(registered: RegisteredCertificate): Promise<CertificateWithIssuer | undefined> {
    let content = this.cache.peek(registered.id);
    if (!content || content.certificate.issuerId !== registered.issuerId) {
      content = await this.cache.reload(registered.id, () => readContent(this.db, registered.id));
      if (!content) return undefined;
    }
    return overlay(content, registered);
  }
}

/** A certificate's content, what can change dropped: only the fresh state may supply it. */
async function readContent(db: Database, id: string): Promise<Content | undefined> {
  const found = await findCertificate(db, id);
  if (!found) return undefined;
  const {
    status: _status,
    statusReason: _statusReason,
    statusChangedAt: _statusChangedAt,
    remaining: _remaining,
    kid: _kid,
    credential: _credential,
    credentialFormat: _credentialFormat,
    ...certificate
  } = found.certificate;
  const {
    name: _name,
    accreditationNo: _accreditationNo,
    status: _issuerStatus,
    statusReason: _issuerStatusReason,
    statusChangedAt: _issuerStatusChangedAt,
    ...issuer
  } = found.issuer;
  return { certificate, issuer };
}

/**
 * The row as the registry holds it now: content under state. Written out field by field (a
 * spread of two dozen fields cost a check several microseconds); the types make sure no column
 * is left out.
 */
function overlay(content: Content, registered: RegisteredCertificate): CertificateWithIssuer {
  const { certificate: c, issuer: i } = content;
  const state = registered.changeable;
  return {
    certificate: {
      id: c.id,
      issuerId: c.issuerId,
      number: c.number,
      scheme: c.scheme,
      holder: c.holder,
      holderUscc: c.holderUscc,
      holderName: c.holderName,
      holderRegion: c.holderRegion,
      manufacturer: c.manufacturer,
      factories: c.factories,
      scope: c.scope,
      standards: c.standards,
      validFrom: c.validFrom,
      validUntil: c.validUntil,
      quantity: c.quantity,
      remaining: state.remaining,
      purpose: c.purpose,
      signatory: c.signatory,
      status: state.status,
      statusReason: state.statusReason,
      statusChangedAt: state.statusChangedAt,
      kid: state.kid,
      credential: state.credential,
      credentialFormat: state.credentialFormat,
      createdAt: c.createdAt,
    },
    issuer: {
      id: i.id,
      name: registered.issuer.name,
      kind: i.kind,
      schemes: i.schemes,
      accreditationNo: registered.issuer.accreditationNo,
      country: i.country,
      status: registered.issuer.status,
      statusReason: registered.issuer.statusReason,
      statusChangedAt: registered.issuer.statusChangedAt,
      createdAt: i.createdAt,
    },
  };
}
