import { bigint, index, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { bytea } from './signing-keys';

/**
 * The append-only audit log. Each entry is a leaf of an RFC 6962 Merkle tree (`leafHash` is
 * SHA-256(0x00 || canonical entry)); UPDATE and DELETE are refused by trigger.
 */
export const auditLog = pgTable(
  'audit_log',
  {
    seq: bigint('seq', { mode: 'number' }).primaryKey(),
    at: timestamp('at', { withTimezone: true }).notNull(),
    actorKeyId: uuid('actor_key_id'),
    actorRole: text('actor_role'),
    signatory: jsonb('signatory'),
    action: text('action').notNull(),
    subjectType: text('subject_type').notNull(),
    subjectId: text('subject_id').notNull(),
    /** SHA-256 of the canonical JSON of the change, hex. */
    changeDigest: text('change_digest').notNull(),
    change: jsonb('change'),
    leafHash: bytea('leaf_hash').notNull(),
  },
  (t) => [
    index('audit_log_subject').on(t.subjectId, t.subjectType),
    index('audit_log_at').on(t.at),
  ],
);

export type AuditLogRow = typeof auditLog.$inferSelect;
