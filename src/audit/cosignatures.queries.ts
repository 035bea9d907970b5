import { and, asc, desc, eq, gt, inArray, min, sql } from 'drizzle-orm';
import type { Queryable } from '../db/client';
import { auditCheckpoints } from '../db/schema/audit-checkpoints';
import { auditCosignatures, type AuditCosignatureRow } from '../db/schema/audit-cosignatures';

/** Witnesses' cosignatures of the log's checkpoints (src/audit/witnessing.ts writes them). */

export interface NewCosignature {
  treeSize: number;
  witness: string;
  signatureLine: string;
  cosignedAt: Date;
}

/**
 * Stores a verified cosignature. A witness asked twice for one checkpoint (two instances, a resend)
 * keeps its first cosignature: either proves the same statement.
 */
export async function insertCosignature(db: Queryable, cosignature: NewCosignature): Promise<void> {
  await db.insert(auditCosignatures).values(cosignature).onConflictDoNothing();
}

/** The largest checkpoint each of `witnesses` has cosigned (absent: none kept). */
export async function latestCosignedSizes(
  db: Queryable,
  witnesses: readonly string[],
): Promise<Map<string, number>> {
  if (witnesses.length === 0) return new Map();
  const rows = await db
    .select({
      witness: auditCosignatures.witness,
      treeSize: sql<string>`max(${auditCosignatures.treeSize})`,
    })
    .from(auditCosignatures)
    .where(inArray(auditCosignatures.witness, [...witnesses]))
    .groupBy(auditCosignatures.witness);
  return new Map(rows.map((r) => [r.witness, Number(r.treeSize)]));
}

/** The largest checkpoint cosigned by at least `quorum` of `witnesses`, or undefined. */
export async function latestWitnessedSize(
  db: Queryable,
  witnesses: readonly string[],
  quorum: number,
): Promise<number | undefined> {
  if (witnesses.length === 0 || quorum < 1) return undefined;
  const [row] = await db
    .select({ treeSize: auditCosignatures.treeSize })
    .from(auditCosignatures)
    .where(inArray(auditCosignatures.witness, [...witnesses]))
    .groupBy(auditCosignatures.treeSize)
    .having(sql`count(*) >= ${quorum}`)
    .orderBy(desc(auditCosignatures.treeSize))
    .limit(1);
  return row?.treeSize;
}

/** The cosignatures of the checkpoint of `treeSize` by `witnesses`. */
export async function cosignaturesOf(
  db: Queryable,
  treeSize: number,
  witnesses: readonly string[],
): Promise<AuditCosignatureRow[]> {
  if (witnesses.length === 0) return [];
  return db
    .select()
    .from(auditCosignatures)
    .where(
      and(
        eq(auditCosignatures.treeSize, treeSize),
        inArray(auditCosignatures.witness, [...witnesses]),
      ),
    )
    .orderBy(asc(auditCosignatures.witness));
}

/** When the first checkpoint larger than `treeSize` was signed (undefined: there is none). */
export async function firstCheckpointSignedAfter(
  db: Queryable,
  treeSize: number,
): Promise<Date | undefined> {
  const [row] = await db
    .select({ signedAt: min(auditCheckpoints.signedAt) })
    .from(auditCheckpoints)
    .where(gt(auditCheckpoints.treeSize, treeSize));
  return row?.signedAt ?? undefined;
}
