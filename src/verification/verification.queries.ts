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
    keyByKid: db
      .select({
        kid: signingKeys.kid,
        issuerId: signingKeys.issuerId,
        publicKey: signingKeys.publicKey,
        status: signingKeys.status,
      })
      .from(signingKeys)
      .where(eq(signingKeys.kid, sql.placeholder('kid')))
      .limit(1)
      .prepare('verify_key_by_kid'),
    certificateById: db
      .select({ certificate: certificates, issuer: issuers })
      .from(certificates)
      .innerJoin(issuers, eq(issuers.id, certificates.issuerId))
      .where(eq(certificates.id, sql.placeholder('id')))
      .limit(1)
      .prepare('verify_certificate_by_id'),
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

/** A signing key by its kid, for checking a presented signature. */
export async function findVerificationKey(db: Database, kid: string) {
  const [row] = await prepared(db).keyByKid.execute({ kid });
  return row;
}

/** A certificate with its issuer, by id. */
export async function findCertificateForVerification(db: Database, id: string) {
  const [row] = await prepared(db).certificateById.execute({ id });
  return row;
}
