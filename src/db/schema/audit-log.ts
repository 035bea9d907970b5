import { sql } from 'drizzle-orm';
import { bigint, index, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/**
 * The append-only audit log: what each change's transaction records. An entry is written once and
 * never touched again; its place in the Merkle tree is in audit_positions (./audit-positions.ts),
 * written by the sequencer. A trigger refuses every UPDATE, DELETE and TRUNCATE.
 *
 * Every audited write pays for each index here, so there are only the ones reads need: the id
 * (the sequencer's queue, in id order, and the join from a position) and the supervisor's filters.
 */
export const auditLog = pgTable(
  'audit_log',
  {
    /**
     * The entry's id, given when its change commits: what a write's answer can carry. Drawn from
     * audit_log_id_seq only once the transaction has its transaction id (the CASE evaluates its
     * condition first): the sequencer's horizon relies on an id never being drawn by a transaction
     * that does not yet show as running (see sequencerHorizon in src/audit/audit.queries.ts).
     */
    id: bigint('id', { mode: 'number' })
      .primaryKey()
      .default(
        sql`CASE WHEN pg_current_xact_id() IS NOT NULL THEN nextval('audit_log_id_seq'::regclass) END`,
      ),
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
  },
  (t) => [
    // A subject's entries (the supervisor's search, an alert's history): looked up by equality
    // only, so a hash index, whose insert writes a four-byte hash into one bucket; a btree of the
    // ids' text cost each audited write about six per cent of a plain write (bench/audit-append.ts).
    index('audit_log_subject').using('hash', t.subjectId),
    // A block range index: entries are appended in time order, so the supervisor's "since" filter
    // finds its blocks from a few summaries, and a write maintains no tree (a btree here cost each
    // audited write a few per cent; bench/audit-append.ts).
    index('audit_log_at').using('brin', t.at),
  ],
);

export type AuditLogRow = typeof auditLog.$inferSelect;
