import { sql } from 'drizzle-orm';
import { bigint, check, customType, integer, pgTable, primaryKey } from 'drizzle-orm/pg-core';

/** PostgreSQL's 64-bit transaction id; compared in SQL only, never read into JavaScript. */
const xid8 = customType<{ data: string }>({ dataType: () => 'xid8' });

/**
 * How far back the sequencer must look for entries still to integrate (one row). Every entry with
 * an id up to `integrated_through` is integrated, and no transaction that could still commit one
 * holds such an id; so pending entries are those above it without a position, found on audit_log's
 * primary key alone, and writers maintain no queue index for the sequencer.
 *
 * The candidate is how the horizon moves: every id up to `candidate_id` was drawn by a transaction
 * whose id is below `candidate_xid` (the transaction id of the sequencer's pass that noted it,
 * given after it read the candidate). Once no transaction below `candidate_xid` is running, those
 * ids are settled (committed, hence visible, or never to be), and the horizon may pass them once
 * the visible ones are integrated. See sequencerHorizon in src/audit/audit.queries.ts.
 */
export const auditSequencerHorizon = pgTable(
  'audit_sequencer_horizon',
  {
    /** Always 1: the table has one row. */
    singleton: integer('singleton').notNull().default(1),
    integratedThrough: bigint('integrated_through', { mode: 'number' }).notNull(),
    candidateId: bigint('candidate_id', { mode: 'number' }),
    candidateXid: xid8('candidate_xid'),
  },
  (t) => [
    primaryKey({ columns: [t.singleton] }),
    check('audit_sequencer_horizon_one_row', sql`${t.singleton} = 1`),
  ],
);
