import { and, desc, lt, sql } from 'drizzle-orm';
import type { Queryable } from '../db/client';
import { auditCheckpoints, type AuditCheckpointRow } from '../db/schema/audit-checkpoints';

/** Signed checkpoints of the audit log (src/audit/sequencer.ts writes them). */

export interface NewCheckpoint {
  treeSize: number;
  rootHash: Uint8Array;
  note: string;
  signedAt: Date;
}

/**
 * Stores a signed checkpoint. Two instances signing one size write the same note (the tree is
 * the same and Ed25519 is deterministic), so the second is a no-op.
 */
export async function insertCheckpoint(db: Queryable, checkpoint: NewCheckpoint): Promise<void> {
  await db.insert(auditCheckpoints).values(checkpoint).onConflictDoNothing();
}

/** The checkpoint of the largest tree, or undefined before the first. */
export async function latestCheckpoint(db: Queryable): Promise<AuditCheckpointRow | undefined> {
  const [row] = await db
    .select()
    .from(auditCheckpoints)
    .orderBy(desc(auditCheckpoints.treeSize))
    .limit(1);
  return row;
}

/** The checkpoint of exactly `treeSize`, if it was signed and kept. */
export async function checkpointOfSize(
  db: Queryable,
  treeSize: number,
): Promise<AuditCheckpointRow | undefined> {
  const [row] = await db
    .select()
    .from(auditCheckpoints)
    .where(sql`${auditCheckpoints.treeSize} = ${treeSize}`);
  return row;
}

/** Deletes checkpoints signed before `before` that are smaller than `keepFrom` (never the latest). */
export async function pruneCheckpoints(
  db: Queryable,
  before: Date,
  keepFrom: number,
): Promise<void> {
  await db
    .delete(auditCheckpoints)
    .where(and(lt(auditCheckpoints.signedAt, before), lt(auditCheckpoints.treeSize, keepFrom)));
}
