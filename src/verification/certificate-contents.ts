import type { Database } from '../db/client';
import type { CertificateRow } from '../db/schema/certificates';
import type { IssuerRow } from '../db/schema/issuers';
import { findCertificate, type CertificateWithIssuer } from '../certificates/certificates.queries';
import type { RegistryState } from './verification.queries';

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
 * check reads only what can change: its statuses, its stored credential, an exemption's remaining
 * quantity, its issuer's name and status (a credential check: findKeysAndCertificates; a mark
 * scan: the statement that counts it). Those come fresh from the registry on every check and are
 * laid over this content, so what a check sees is exactly the registry's row as it is now.
 * Bounded: the oldest entries go first.
 */
export class CertificateContents {
  private readonly entries = new Map<string, Content>();
  private readonly loading = new Map<string, Promise<Content | undefined>>();
  private readonly maxEntries: number;

  constructor(
    private readonly db: Database,
    options: { maxEntries?: number } = {},
  ) {
    this.maxEntries = options.maxEntries ?? 10_000;
  }

  /**
   * The certificate the registry holds now with its issuer: the cached content under the state
   * just read. Undefined only if the certificate vanished between the two reads.
   */
  async current(registered: RegisteredCertificate): Promise<CertificateWithIssuer | undefined> {
    let content = this.entries.get(registered.id);
    if (!content || content.certificate.issuerId !== registered.issuerId) {
      content = await this.load(registered.id);
      if (!content) return undefined;
    }
    return overlay(content, registered);
  }

  /** The content read now (and kept): used as read, whatever the cache has evicted since. */
  private load(id: string): Promise<Content | undefined> {
    let pending = this.loading.get(id);
    if (!pending) {
      pending = findCertificate(this.db, id)
        .then((found) => {
          if (!found) return undefined;
          // What can change is dropped here: only the fresh state may supply it.
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
          this.entries.delete(id);
          if (this.entries.size >= this.maxEntries)
            this.entries.delete(this.entries.keys().next().value!);
          const content = { certificate, issuer };
          this.entries.set(id, content);
          return content;
        })
        .finally(() => this.loading.delete(id));
      this.loading.set(id, pending);
    }
    return pending;
  }
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
