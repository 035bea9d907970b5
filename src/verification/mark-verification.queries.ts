import { and, eq, inArray } from 'drizzle-orm';
import type { Queryable } from '../db/client';
import { markBatches } from '../db/schema/mark-batches';
import { marks } from '../db/schema/marks';
import { signingKeys } from '../db/schema/signing-keys';

/**
 * The queries of mark verification besides counting the scan (./scan-registration.queries): the
 * published keys a code is checked against and the slow explanation of a miss.
 */

/** Signing keys with their 3-byte mark key id (all, or those with `markKeyId`), for picking a code's candidates. */
export async function listMarkKeys(db: Queryable, markKeyId?: string) {
  return db
    .select({
      kid: signingKeys.kid,
      issuerId: signingKeys.issuerId,
      markKeyId: signingKeys.markKeyId,
      publicKey: signingKeys.publicKey,
      status: signingKeys.status,
    })
    .from(signingKeys)
    .where(markKeyId === undefined ? undefined : eq(signingKeys.markKeyId, markKeyId));
}

/**
 * Why a scan found no mark (the slow path, forgeries only): whether the serial exists in a finished
 * batch, which key (and its status) and issuer signed that batch, and the status of the key that
 * signed the code.
 */
export async function explainMiss(db: Queryable, params: { serial: string; kid: string | null }) {
  const [mark] = await db
    .select({
      batchStatus: markBatches.status,
      batchKid: markBatches.kid,
      batchKeyStatus: signingKeys.status,
      issuerId: markBatches.issuerId,
    })
    .from(marks)
    .innerJoin(markBatches, eq(markBatches.id, marks.batchId))
    .innerJoin(signingKeys, eq(signingKeys.kid, markBatches.kid))
    .where(eq(marks.serial, BigInt(params.serial)))
    .limit(1);
  const [key] = params.kid
    ? await db
        .select({ status: signingKeys.status, issuerId: signingKeys.issuerId })
        .from(signingKeys)
        .where(eq(signingKeys.kid, params.kid))
        .limit(1)
    : [];
  return { mark, key };
}

/**
 * Whether `serial` is a mark of a finished batch signed with one of `kids`: the only case in which
 * a signature OpenSSL refused could still change a scan's verdict (see checkMarkSignatureByOpenssl).
 */
export async function isIssuedMarkOf(
  db: Queryable,
  params: { serial: string; kids: readonly string[] },
): Promise<boolean> {
  if (params.kids.length === 0) return false;
  const [row] = await db
    .select({ batchId: marks.batchId })
    .from(marks)
    .innerJoin(markBatches, eq(markBatches.id, marks.batchId))
    .where(
      and(
        eq(marks.serial, BigInt(params.serial)),
        eq(markBatches.status, 'done'),
        inArray(markBatches.kid, [...params.kids]),
      ),
    )
    .limit(1);
  return row !== undefined;
}
