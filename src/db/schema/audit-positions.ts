import { bigint, pgTable, unique } from 'drizzle-orm/pg-core';
import { bytea } from './signing-keys';

/**
 * Where each committed audit entry sits in the Merkle tree: its leaf index (`seq` - 1, dense, in
 * the order entries became visible to the sequencer) and its leaf hash (SHA-256(0x00 || canonical
 * entry), RFC 6962). The sequencer (src/audit/sequencer.ts) inserts a batch's rows in one
 * statement; an entry's row in audit_log is never rewritten to give it its place. Append-only as
 * the log is (a trigger refuses UPDATE, DELETE and TRUNCATE); `entry_id` unique: an entry has at
 * most one place. No foreign key to audit_log: only the sequencer writes here, with ids it has just
 * read, and entries cannot be deleted, so a check per row would only cost each batch.
 */
export const auditPositions = pgTable(
  'audit_positions',
  {
    /** 1-based position in the log. */
    seq: bigint('seq', { mode: 'number' }).primaryKey(),
    /** The entry (audit_log.id). */
    entryId: bigint('entry_id', { mode: 'number' }).notNull(),
    leafHash: bytea('leaf_hash').notNull(),
  },
  (t) => [unique('audit_positions_entry_id_unique').on(t.entryId)],
);

export type AuditPositionRow = typeof auditPositions.$inferSelect;
