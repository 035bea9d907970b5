import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  index,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { bytea } from './signing-keys';

/**
 * The append-only audit log. A change's transaction inserts its entry (`id`, no `seq`); the
 * sequencer (src/audit/sequencer.ts) later gives committed entries their leaf index (`seq` - 1,
 * dense, in the order they became visible) and their leaf hash (SHA-256(0x00 || canonical entry),
 * RFC 6962) in one UPDATE. A trigger refuses every other UPDATE, every DELETE and TRUNCATE.
 */
export const auditLog = pgTable(
  'audit_log',
  {
    /** The entry's id, given when its change commits: what a write's answer can carry. */
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    /** 1-based position in the log; null until the sequencer integrates the entry. */
    seq: bigint('seq', { mode: 'number' }),
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
    /** Null until integrated. */
    leafHash: bytea('leaf_hash'),
  },
  (t) => [
    uniqueIndex('audit_log_seq').on(t.seq),
    // The sequencer's queue: entries committed but not yet in the tree.
    index('audit_log_pending')
      .on(t.id)
      .where(sql`${t.seq} IS NULL`),
    index('audit_log_subject').on(t.subjectId, t.subjectType),
    index('audit_log_at').on(t.at),
  ],
);

export type AuditLogRow = typeof auditLog.$inferSelect;
