import { clientQuery, type Database } from '../db/client';
import type { CertificateRow } from '../db/schema/certificates';
import type { IssuerRow } from '../db/schema/issuers';
import type { SigningKeyRow } from '../db/schema/signing-keys';

/** What one credential check asks the registry: the key its header names, the certificate its jti names. */
export interface KeyAndCertificateLookup {
  kid: string;
  certificateId: string | undefined;
}

/**
 * What the registry holds now about one lookup: the signing key and, when the certificate exists,
 * every column of it and of its issuer that can change after issuance (a status, a re-signed
 * credential, an exemption's remaining quantity). The rest of a certificate never changes once
 * issued (see CertificateContents).
 */
export interface RegistryState {
  key: Pick<SigningKeyRow, 'kid' | 'issuerId' | 'publicKey' | 'status'>;
  certificate?: {
    id: string;
    issuerId: string;
    changeable: Pick<
      CertificateRow,
      | 'status'
      | 'statusReason'
      | 'statusChangedAt'
      | 'remaining'
      | 'kid'
      | 'credential'
      | 'credentialFormat'
    >;
    issuer: Pick<
      IssuerRow,
      'name' | 'accreditationNo' | 'status' | 'statusReason' | 'statusChangedAt'
    >;
  };
}

interface LookupRow {
  n: number;
  keyIssuerId: string;
  publicKey: Uint8Array;
  keyStatus: SigningKeyRow['status'];
  certificateId: string | null;
  certificateIssuerId: string | null;
  status: CertificateRow['status'];
  statusReason: string | null;
  statusChangedAt: Date | null;
  remaining: number | null;
  credentialKid: string;
  credential: string;
  credentialFormat: number;
  issuerName: string;
  issuerAccreditationNo: string | null;
  issuerStatus: IssuerRow['status'];
  issuerStatusReason: string | null;
  issuerStatusChangedAt: Date | null;
}

/**
 * Every lookup of a batch in one statement: the key by kid (no key, no row: UNKNOWN_KEY whatever
 * the certificate) and, by a left join, the certificate by id with its issuer. Only the columns
 * that can change are read: parsing a whole certificate row (six jsonb columns, two dozen fields)
 * cost the service more CPU than PostgreSQL spent answering.
 */
const KEYS_AND_CERTIFICATES_SQL = `
SELECT q.n::int AS "n",
       k.issuer_id AS "keyIssuerId", k.public_key AS "publicKey", k.status AS "keyStatus",
       c.id AS "certificateId", c.issuer_id AS "certificateIssuerId",
       c.status AS "status", c.status_reason AS "statusReason",
       c.status_changed_at AS "statusChangedAt", c.remaining AS "remaining",
       c.kid AS "credentialKid", c.credential AS "credential",
       c.credential_format AS "credentialFormat",
       i.name AS "issuerName", i.accreditation_no AS "issuerAccreditationNo",
       i.status AS "issuerStatus", i.status_reason AS "issuerStatusReason",
       i.status_changed_at AS "issuerStatusChangedAt"
FROM unnest($1::text[], $2::uuid[]) WITH ORDINALITY AS q(kid, certificate_id, n)
  JOIN signing_keys AS k ON k.kid = q.kid
  LEFT JOIN certificates AS c ON c.id = q.certificate_id
  LEFT JOIN issuers AS i ON i.id = c.issuer_id`;

/**
 * The registry's state for each lookup, in their order (undefined where no key has that kid).
 * A kid must be a key id certmark issues (an RFC 7638 thumbprint) and an id a UUID: the caller
 * checks both, so nothing in a batch can make PostgreSQL refuse it for the others.
 */
export async function findKeysAndCertificates(
  db: Database,
  lookups: readonly KeyAndCertificateLookup[],
): Promise<(RegistryState | undefined)[]> {
  const rows = await clientQuery<LookupRow>(
    db,
    'verify_keys_and_certificates',
    KEYS_AND_CERTIFICATES_SQL,
    [lookups.map((l) => l.kid), lookups.map((l) => l.certificateId ?? null)],
  );
  const states: (RegistryState | undefined)[] = new Array<RegistryState | undefined>(
    lookups.length,
  ).fill(undefined);
  for (const row of rows) {
    const lookup = lookups[row.n - 1]!;
    states[row.n - 1] = {
      key: {
        kid: lookup.kid,
        issuerId: row.keyIssuerId,
        publicKey: row.publicKey,
        status: row.keyStatus,
      },
      ...(row.certificateId !== null && row.certificateIssuerId !== null
        ? {
            certificate: {
              id: row.certificateId,
              issuerId: row.certificateIssuerId,
              changeable: {
                status: row.status,
                statusReason: row.statusReason,
                statusChangedAt: row.statusChangedAt,
                remaining: row.remaining,
                kid: row.credentialKid,
                credential: row.credential,
                credentialFormat: row.credentialFormat,
              },
              issuer: {
                name: row.issuerName,
                accreditationNo: row.issuerAccreditationNo,
                status: row.issuerStatus,
                statusReason: row.issuerStatusReason,
                statusChangedAt: row.issuerStatusChangedAt,
              },
            },
          }
        : {}),
    };
  }
  return states;
}
