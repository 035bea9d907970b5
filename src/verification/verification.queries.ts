import { eq, sql } from 'drizzle-orm';
import type { Database } from '../db/client';
import { certificates } from '../db/schema/certificates';
import { issuers } from '../db/schema/issuers';
import { signingKeys } from '../db/schema/signing-keys';

/**
 * The queries of the public verification path, prepared once per database: building a drizzle
 * query costs more CPU than PostgreSQL spends answering it, and these run on every verification.
 */
function prepareVerificationQueries(db: Database) {
  return {
    // One round trip for both halves of a credential check: the key its header names and the
    // certificate its `jti` names (a left join, so a forgery naming no certificate still finds
    // the key, and one naming no key finds nothing: UNKNOWN_KEY is the answer either way).
    keyAndCertificate: db
      .select({
        key: {
          kid: signingKeys.kid,
          issuerId: signingKeys.issuerId,
          publicKey: signingKeys.publicKey,
          status: signingKeys.status,
        },
        certificate: certificates,
        issuer: issuers,
      })
      .from(signingKeys)
      .leftJoin(certificates, eq(certificates.id, sql`${sql.placeholder('id')}::uuid`))
      .leftJoin(issuers, eq(issuers.id, certificates.issuerId))
      .where(eq(signingKeys.kid, sql.placeholder('kid')))
      .limit(1)
      .prepare('verify_key_and_certificate'),
  };
}

const preparedByDatabase = new WeakMap<Database, ReturnType<typeof prepareVerificationQueries>>();

function prepared(db: Database) {
  let queries = preparedByDatabase.get(db);
  if (!queries) {
    queries = prepareVerificationQueries(db);
    preparedByDatabase.set(db, queries);
  }
  return queries;
}

/**
 * The signing key a credential names by its kid and, when that key exists, the certificate (with
 * its issuer) it names by id, or undefined when there is no such key.
 */
export async function findKeyAndCertificate(
  db: Database,
  params: { kid: string; certificateId: string | undefined },
) {
  const [row] = await prepared(db).keyAndCertificate.execute({
    kid: params.kid,
    id: params.certificateId ?? null,
  });
  if (!row) return undefined;
  return {
    key: row.key,
    found:
      row.certificate && row.issuer
        ? { certificate: row.certificate, issuer: row.issuer }
        : undefined,
  };
}
