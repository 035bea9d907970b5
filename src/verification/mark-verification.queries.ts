import { eq, sql } from 'drizzle-orm';
import type { Database, Queryable } from '../db/client';
import { clientQuery } from '../db/client';
import { markBatches, type MarkBatchStatus } from '../db/schema/mark-batches';
import { certificates } from '../db/schema/certificates';
import { issuers } from '../db/schema/issuers';
import type { CertificateWithIssuer } from '../certificates/certificates.queries';
import { signingKeys, type SigningKeyRow } from '../db/schema/signing-keys';
import {
  LOCATED_AT_1_2_3,
  locatedMarkSql,
  locatedValues,
  type LocatedSerial,
} from '../marks/mark.queries';

/**
 * The queries of mark verification besides counting the scan (./scan-registration.queries): the
 * published keys a code is checked against, a certificate with its row versions, what never
 * changes of a batch, and the slow explanation of a miss.
 */

/**
 * A row's version as PostgreSQL keeps it: `xmin`, the transaction that wrote this version of the
 * row. Every UPDATE writes a new version under a new transaction id, so two reads that see the
 * same `xmin` saw the same row (the "xmin as concurrency token" of PostgreSQL drivers); freezing
 * and VACUUM keep it. Text, so that no driver parser has to run on it.
 */
export const rowVersionOf = (alias: string) => `${alias}.xmin::text`;

/** A certificate with its issuer, and the row versions of both as read (./certificate-versions). */
export async function findCertificateWithVersions(
  db: Queryable,
  id: string,
): Promise<(CertificateWithIssuer & { version: string; issuerVersion: string }) | undefined> {
  const [row] = await db
    .select({
      certificate: certificates,
      issuer: issuers,
      version: sql<string>`${sql.raw(rowVersionOf('"certificates"'))}`,
      issuerVersion: sql<string>`${sql.raw(rowVersionOf('"issuers"'))}`,
    })
    .from(certificates)
    .innerJoin(issuers, eq(issuers.id, certificates.issuerId))
    .where(eq(certificates.id, id))
    .limit(1);
  return row;
}

/** What never changes of a mark batch: what it was issued for, and by whose key. */
export interface MarkBatchFacts {
  certificateId: string;
  /** The certificate's issuer. */
  issuerId: string;
  /** The issuer of the key the batch's marks are signed with. */
  keyIssuerId: string;
  model: string | null;
  lot: string | null;
}

export async function findMarkBatchFacts(
  db: Queryable,
  batchId: string,
): Promise<MarkBatchFacts | undefined> {
  const [row] = await db
    .select({
      certificateId: markBatches.certificateId,
      issuerId: certificates.issuerId,
      keyIssuerId: signingKeys.issuerId,
      model: markBatches.model,
      lot: markBatches.lot,
    })
    .from(markBatches)
    .innerJoin(certificates, eq(certificates.id, markBatches.certificateId))
    .innerJoin(signingKeys, eq(signingKeys.kid, markBatches.kid))
    .where(eq(markBatches.id, batchId))
    .limit(1);
  return row;
}

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
 * Why a scan found no mark (the slow path, forgeries only): whether the serial is a mark of a
 * finished batch, which key (and its status) and issuer signed that batch, and the status of the
 * key that signed the code.
 */
export async function explainMiss(db: Database, params: LocatedSerial & { kid: string | null }) {
  const [mark] = await clientQuery<{
    batchStatus: MarkBatchStatus;
    batchKid: string;
    batchKeyStatus: SigningKeyRow['status'];
    issuerId: string;
  }>(
    db,
    // Planned at each call: it reads marks by serial (see clientQuery).
    undefined,
    `SELECT b.status AS "batchStatus", b.kid AS "batchKid", k.status AS "batchKeyStatus",
       b.issuer_id AS "issuerId"
     FROM ${locatedMarkSql(LOCATED_AT_1_2_3)} AS m
       JOIN mark_batches AS b ON b.id = m.batch_id
       JOIN signing_keys AS k ON k.kid = b.kid
     LIMIT 1`,
    locatedValues(params),
  );
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
 * Whether the serial is a mark of a finished batch signed with one of `kids`: the only case in
 * which a signature OpenSSL refused could still change a scan's verdict (see
 * checkMarkSignatureByOpenssl).
 */
export async function isIssuedMarkOf(
  db: Database,
  params: LocatedSerial & { kids: readonly string[] },
): Promise<boolean> {
  if (params.kids.length === 0) return false;
  const [row] = await clientQuery<{ found: number }>(
    db,
    // Planned at each call: it reads marks by serial (see clientQuery).
    undefined,
    `SELECT 1 AS "found"
     FROM ${locatedMarkSql(LOCATED_AT_1_2_3)} AS m
       JOIN mark_batches AS b ON b.id = m.batch_id
     WHERE b.status = 'done' AND b.kid = ANY($4::text[])
     LIMIT 1`,
    [...locatedValues(params), [...params.kids]],
  );
  return row !== undefined;
}
