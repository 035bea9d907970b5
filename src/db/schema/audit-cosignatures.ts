import { bigint, index, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';
import { auditCheckpoints } from './audit-checkpoints';

/**
 * Witnesses' cosignatures of the log's checkpoints (C2SP tlog-cosignature), one per checkpoint and
 * witness, each verified before it is stored. GET /log/checkpoint appends them to the checkpoint's
 * note; a checkpoint with a quorum of them is witnessed. Pruned with their checkpoint.
 */
export const auditCosignatures = pgTable(
  'audit_cosignatures',
  {
    treeSize: bigint('tree_size', { mode: 'number' })
      .notNull()
      .references(() => auditCheckpoints.treeSize, { onDelete: 'cascade' }),
    /** The cosigner's key name and key ID, `<name>+<8 hex digits>` (its verifier key's prefix). */
    witness: text('witness').notNull(),
    /** The note signature line `— <name> base64(key ID ‖ timestamp ‖ signature)`, with its newline. */
    signatureLine: text('signature_line').notNull(),
    /** The cosignature's own timestamp (tlog-cosignature `timestamped_signature.timestamp`). */
    cosignedAt: timestamp('cosigned_at', { withTimezone: true }).notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.treeSize, t.witness] }),
    index('audit_cosignatures_witness').on(t.witness, t.treeSize),
  ],
);

export type AuditCosignatureRow = typeof auditCosignatures.$inferSelect;
