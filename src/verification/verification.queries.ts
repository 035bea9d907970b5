import { eq } from 'drizzle-orm';
import type { Queryable } from '../db/client';
import { signingKeys } from '../db/schema/signing-keys';
import { issuers } from '../db/schema/issuers';

/** A signing key with its issuer, for checking a presented signature. */
export async function findKeyWithIssuer(db: Queryable, kid: string) {
  const [row] = await db
    .select({ key: signingKeys, issuer: issuers })
    .from(signingKeys)
    .innerJoin(issuers, eq(issuers.id, signingKeys.issuerId))
    .where(eq(signingKeys.kid, kid))
    .limit(1);
  return row;
}
