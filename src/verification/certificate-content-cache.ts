import type { Queryable } from '../db/client';
import { findCertificate, type CertificateWithIssuer } from '../certificates/certificates.queries';
import type { RegisteredScan } from './scan-registration.queries';

export interface CertificateContentCacheOptions {
  readonly maxEntries?: number;
  /** How long an issuer's name and accreditation may lag behind a change. */
  readonly ttlMs?: number;
  readonly now?: () => number;
}

/**
 * What a mark's answer shows of its certificate, without reading it on every scan. A certificate's
 * content (number, holder, scope, validity…) never changes after issuance; only its status (and an
 * exemption's remaining quantity) and its issuer's status do, and those come fresh from the scan
 * statement every time and are laid over the cached content. Bounded (oldest entries go first).
 */
export class CertificateContentCache {
  private readonly entries = new Map<string, { found: CertificateWithIssuer; loadedAt: number }>();
  private readonly loading = new Map<string, Promise<CertificateWithIssuer | undefined>>();
  private readonly maxEntries: number;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(
    private readonly db: Queryable,
    options: CertificateContentCacheOptions = {},
  ) {
    this.maxEntries = options.maxEntries ?? 10_000;
    this.ttlMs = options.ttlMs ?? 60_000;
    this.now = options.now ?? (() => performance.now());
  }

  /** The certificate and issuer of a counted scan, as they are now. */
  async current(scan: RegisteredScan): Promise<CertificateWithIssuer> {
    const cached = this.entries.get(scan.certificateId);
    const found =
      cached && this.now() - cached.loadedAt < this.ttlMs
        ? cached.found
        : await this.load(scan.certificateId);
    if (!found) throw new Error(`certificate ${scan.certificateId} vanished`);
    return {
      certificate: {
        ...found.certificate,
        status: scan.certificateStatus,
        statusReason: scan.certificateStatusReason,
        statusChangedAt: scan.certificateStatusChangedAt,
        remaining: scan.remaining,
      },
      issuer: {
        ...found.issuer,
        status: scan.issuerStatus,
        statusReason: scan.issuerStatusReason,
        statusChangedAt: scan.issuerStatusChangedAt,
      },
    };
  }

  private load(id: string): Promise<CertificateWithIssuer | undefined> {
    let pending = this.loading.get(id);
    if (!pending) {
      pending = findCertificate(this.db, id)
        .then((found) => {
          if (!found) return undefined;
          // The signed credential (kilobytes) is not part of a mark's answer.
          const content = {
            certificate: { ...found.certificate, credential: '' },
            issuer: found.issuer,
          };
          this.entries.delete(id);
          if (this.entries.size >= this.maxEntries)
            this.entries.delete(this.entries.keys().next().value!);
          this.entries.set(id, { found: content, loadedAt: this.now() });
          return content;
        })
        .finally(() => this.loading.delete(id));
      this.loading.set(id, pending);
    }
    return pending;
  }
}
