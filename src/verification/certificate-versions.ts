import type { Queryable } from '../db/client';
import type { CertificateWithIssuer } from '../certificates/certificates.queries';
import { LoadingCache } from '../shared/loading-cache';
import { findCertificateWithVersions } from './mark-verification.queries';

/** A certificate with its issuer under the row versions it was read at. */
interface Versioned {
  readonly found: CertificateWithIssuer;
  readonly version: string;
  readonly issuerVersion: string;
}

/** Which certificate a statement found, and the versions of its row and its issuer's it saw. */
export interface CertificateAtVersion {
  id: string;
  version: string;
  issuerVersion: string;
}

/**
 * Certificates with their issuers as the registry holds them now, for the mark scan's statement:
 * it reads only the row versions of the certificate and issuer (./scan-registration.queries), and
 * what is kept here under the same versions is exactly those rows. A version seen differs only
 * after a change (a status, a customs deduction, a renamed or suspended issuer, a credential signed
 * anew), and that certificate is then read again, once, whoever asks at the time. The stored
 * credential (kilobytes) is left out: no mark answer shows it. Bounded: the oldest go first.
 */
export class CertificateVersions {
  private readonly cache: LoadingCache<string, Versioned>;

  constructor(
    private readonly db: Queryable,
    options: { maxEntries?: number } = {},
  ) {
    this.cache = new LoadingCache({ maxEntries: options.maxEntries ?? 10_000 });
  }

  /**
   * The certificate and issuer at the versions given, or newer when they changed again since
   * (what is read after a statement is never older than what it saw). Undefined only if the
   * certificate vanished.
   */
  async current(at: CertificateAtVersion): Promise<CertificateWithIssuer | undefined> {
    const held = this.held(at);
    if (held) return held;
    const read = await this.cache.reload(at.id, () => readVersioned(this.db, at.id));
    return read?.found;
  }

  /**
   * What is kept, if it is at the versions given; undefined otherwise (then ask `current`). Lets
   * the hot path, where nearly every scan finds its certificate unchanged, answer without a wait.
   */
  held(at: CertificateAtVersion): CertificateWithIssuer | undefined {
    const held = this.cache.peek(at.id);
    return held && held.version === at.version && held.issuerVersion === at.issuerVersion
      ? held.found
      : undefined;
  }
}

async function readVersioned(db: Queryable, id: string): Promise<Versioned | undefined> {
  const row = await findCertificateWithVersions(db, id);
  if (!row) return undefined;
  return {
    found: { certificate: { ...row.certificate, credential: '' }, issuer: row.issuer },
    version: row.version,
    issuerVersion: row.issuerVersion,
  };
}
