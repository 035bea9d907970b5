import { bigint, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import { bytea } from './signing-keys';

/**
 * Checkpoints the sequencer signed (C2SP tlog-checkpoint notes), one per tree size: what
 * GET /log/checkpoint serves and what witnesses are asked to cosign. Old ones are pruned.
 */
export const auditCheckpoints = pgTable('audit_checkpoints', {
  treeSize: bigint('tree_size', { mode: 'number' }).primaryKey(),
  rootHash: bytea('root_hash').notNull(),
  /** The signed note with the log's signature line only. */
  note: text('note').notNull(),
  signedAt: timestamp('signed_at', { withTimezone: true }).notNull(),
});

export type AuditCheckpointRow = typeof auditCheckpoints.$inferSelect;
