import { hash } from 'node:crypto';
import { sql, type SQL } from 'drizzle-orm';
import type { Queryable } from '../db/client';
import { clientQuery, rowsOf } from '../db/client';
import type { Actor } from '../auth/principal';
import { canonicalJson } from '../crypto/canonical-json';
import { HASH_LENGTH, writeLeafHashOfText } from '../crypto/merkle';

export interface AuditEntryInput {
  actor: Actor;
  action: string;
  subjectType: string;
  subjectId: string;
  signatory?: unknown;
  change?: unknown;
}

/**
 * The text a Merkle leaf commits to: every field of the entry, in canonical JSON (the members in
 * sorted order, as canonicalJson sorts them). Written out member by member: the sequencer runs this
 * for every entry it integrates, and the generic serialiser's key sort and per-member recursion
 * were most of its cost. audit-leaf tests hold it to canonicalJson of the same record.
 */
export function auditLeafText(entry: AuditLeafFields & { seq: number }): string {
  return leafText(entry, entry.seq);
}

/**
 * {@link auditLeafText} of `entry` at `seq`, without a copy of the entry made to carry its seq. The
 * first member, `action`, is a string and always present; the nullable ones are left out when
 * undefined (an entry read from JSON), as canonicalJson leaves out an undefined member.
 */
function leafText(entry: AuditLeafFields, seq: number): string {
  let out = `{"action":${JSON.stringify(entry.action)}`;
  if (entry.actorKeyId !== undefined) out += `,"actorKeyId":${JSON.stringify(entry.actorKeyId)}`;
  if (entry.actorRole !== undefined) out += `,"actorRole":${JSON.stringify(entry.actorRole)}`;
  const at = typeof entry.at === 'string' ? entry.at : entry.at.toISOString();
  out += `,"at":"${at}","changeDigest":${JSON.stringify(entry.changeDigest)}`;
  out += `,"seq":${seq},"signatory":${canonicalJson(entry.signatory ?? null)}`;
  out += `,"subjectId":${JSON.stringify(entry.subjectId)}`;
  return `${out},"subjectType":${JSON.stringify(entry.subjectType)}}`;
}

/** The bytes a Merkle leaf commits to: {@link auditLeafText} in UTF-8. */
export function auditLeafData(entry: AuditLeafFields & { seq: number }): Uint8Array {
  return new TextEncoder().encode(auditLeafText(entry));
}

/**
 * The leaf hashes of `entries` given seqs `firstSeq`, `firstSeq + 1`, …: SHA-256(0x00 ||
 * auditLeafData), concatenated (32 bytes each), as the sequencer stores them.
 */
export function auditLeafHashes(entries: readonly AuditLeafFields[], firstSeq: number): Uint8Array {
  const hashes = Buffer.allocUnsafe(entries.length * HASH_LENGTH);
  for (let i = 0; i < entries.length; i++) {
    writeLeafHashOfText(leafText(entries[i]!, firstSeq + i), hashes, i * HASH_LENGTH);
  }
  return new Uint8Array(hashes.buffer, hashes.byteOffset, hashes.byteLength);
}

/** SHA-256 of a change's canonical JSON, hex: what the entry (and its leaf) commits to. */
export function changeDigest(changeJson: string): string {
  return hash('sha256', changeJson, 'hex');
}

/** The columns an entry is written with, as a record (the multi-row append's JSON). */
function entryRecord(at: Date, input: AuditEntryInput) {
  const change = input.change ?? null;
  return {
    at: at.toISOString(),
    actor_key_id: input.actor.keyId,
    actor_role: input.actor.role,
    signatory: input.signatory ?? null,
    action: input.action,
    subject_type: input.subjectType,
    subject_id: input.subjectId,
    change_digest: changeDigest(canonicalJson(change)),
    change,
  };
}

/**
 * An entry's columns but its subject, as statement parameters in ENTRY_COLUMNS' order (the subject
 * comes last: a change may supply it).
 */
function entryParameters(at: Date, input: Omit<AuditEntryInput, 'subjectId'>): unknown[] {
  const change = input.change ?? null;
  // One serialisation serves both: canonical JSON is JSON, so it is also the jsonb parameter.
  const changeJson = canonicalJson(change);
  return [
    at.toISOString(),
    input.actor.keyId,
    input.actor.role,
    jsonParameter(input.signatory ?? null),
    input.action,
    input.subjectType,
    changeDigest(changeJson),
    change === null ? null : changeJson,
  ];
}

const ENTRY_COLUMNS =
  'at, actor_key_id, actor_role, signatory, action, subject_type, change_digest, change, subject_id';

/** The entry's columns but its subject, bound from parameter `$first` on (entryParameters). */
function entryValuesFrom(first: number): string {
  const p = (i: number) => `$${first + i}`;
  return `${p(0)}::timestamptz, ${p(1)}::uuid, ${p(2)}, ${p(3)}::jsonb, ${p(4)}, ${p(5)}, ${p(6)}, ${p(7)}::jsonb`;
}

const APPEND_ENTRY_SQL = `INSERT INTO audit_log (${ENTRY_COLUMNS})
  VALUES (${entryValuesFrom(1)}, $9)
  RETURNING id`;

/**
 * Records one entry inside the caller's transaction, so the change and its record commit together
 * or not at all, exactly once. Takes no lock: writers never wait for each other. The entry has no
 * position yet; the sequencer (src/audit/sequencer.ts) integrates it into the tree after it commits.
 * Returns the entry's id.
 *
 * Every audited write runs this, so it is one prepared statement on the transaction's own
 * connection: parsed and planned once per connection, no query builder's work per value (the query
 * builder and a parse per call cost an audited write more than its row does; bench/audit-append.ts).
 * A change that is a single statement can carry its entry in that statement instead, saving the
 * round trip: {@link changeWithEntry}.
 */
export async function appendAuditEntry(
  tx: Queryable,
  at: Date,
  input: AuditEntryInput,
): Promise<number> {
  const [row] = await clientQuery<{ id: string | number }>(
    tx,
    'audit_append_entry',
    APPEND_ENTRY_SQL,
    [...entryParameters(at, input), input.subjectId],
  );
  return Number(row!.id);
}

/** Each audited statement by its name, composed once: the change's text and the whole text. */
const auditedStatements = new Map<string, { change: string; text: string }>();

/** A change as one hand-written statement: `text` binds `values` as $1, $2, … */
export interface ChangeStatement {
  /** The prepared statement's name; the audited form is prepared as `<name>+audit`. */
  name: string;
  /** One INSERT, UPDATE or DELETE … RETURNING that touches at most one row. */
  text: string;
  values: unknown[];
}

/**
 * Makes a change and records its audit entry in one statement: the change runs as a data-modifying
 * CTE and the entry is inserted from the row it returns. Same guarantees as a change followed by
 * {@link appendAuditEntry} in its transaction (both commit together, exactly once), one round trip
 * fewer; and a change that touches no row (an UPDATE whose condition no longer holds) records no
 * entry. With `subjectId` left out, the entry's subject is the changed row's `id`.
 *
 * Returns the changed row and its entry's id, or undefined when no row changed.
 */
export async function changeWithEntry<Row extends Record<string, unknown>>(
  tx: Queryable,
  change: ChangeStatement,
  at: Date,
  entry: Omit<AuditEntryInput, 'subjectId'> & { subjectId?: string },
): Promise<(Row & { auditEntryId: number }) | undefined> {
  const first = change.values.length + 1;
  const ownSubject = entry.subjectId !== undefined;
  const values = [...change.values, ...entryParameters(at, entry)];
  if (ownSubject) values.push(entry.subjectId);
  const subject = ownSubject ? `$${first + 8}` : 'change.id::text';
  const name = `${change.name}+audit${ownSubject ? '+subject' : ''}`;
  let statement = auditedStatements.get(name);
  if (statement?.change !== change.text) {
    if (statement) throw new Error(`two statements are named ${change.name}`);
    statement = {
      change: change.text,
      text: `WITH change AS (${change.text}),
        entry AS (INSERT INTO audit_log (${ENTRY_COLUMNS})
                  SELECT ${entryValuesFrom(first)}, ${subject} FROM change
                  RETURNING id)
        SELECT change.*, entry.id AS audit_entry_id FROM change, entry`,
    };
    auditedStatements.set(name, statement);
  }
  const rows = await clientQuery<Row & { audit_entry_id: string | number }>(
    tx,
    name,
    statement.text,
    values,
  );
  if (rows.length > 1) throw new Error(`${change.name} changed ${rows.length} rows, not one`);
  const [row] = rows;
  if (!row) return undefined;
  const { audit_entry_id: entryId, ...changed } = row;
  return { ...(changed as unknown as Row), auditEntryId: Number(entryId) };
}

/** A jsonb parameter: SQL NULL for null (as the column had it before), else the value's JSON. */
function jsonParameter(value: unknown): string | null {
  return value === null ? null : JSON.stringify(value);
}

/**
 * Records many entries at one time inside the caller's transaction (one multi-row insert): the
 * same entries, each as {@link appendAuditEntry} writes it, for a change made many times at once
 * (an import's chunk of certificates). Returns their ids, in order.
 */
export async function appendAuditEntries(
  tx: Queryable,
  at: Date,
  inputs: readonly AuditEntryInput[],
): Promise<number[]> {
  if (inputs.length === 0) return [];
  // One JSON parameter turned into records by PostgreSQL, as for the certificates themselves.
  const records = inputs.map((input) => entryRecord(at, input));
  const rows = await clientQuery<{ id: string | number }>(
    tx,
    'audit_append_entries',
    `INSERT INTO audit_log
       (at, actor_key_id, actor_role, signatory, action, subject_type, subject_id, change_digest, change)
     SELECT at, actor_key_id, actor_role, signatory, action, subject_type, subject_id,
       change_digest, change
     FROM jsonb_populate_recordset(NULL::audit_log, $1::jsonb)
     RETURNING id`,
    [JSON.stringify(records)],
  );
  return rows.map((r) => Number(r.id));
}

/** Serialises sequencers across instances: one integrates at a time (transaction-scoped). */
const AUDIT_SEQUENCER_LOCK = 0x61_75_64_74; // "audt"

/** What an entry's leaf commits to, besides its position. */
export interface AuditLeafFields {
  /** The instant, or already as `toISOString` writes it (the sequencer reads it so: PENDING_AT). */
  at: Date | string;
  actorKeyId: string | null;
  actorRole: string | null;
  signatory: unknown;
  action: string;
  subjectType: string;
  subjectId: string;
  changeDigest: string;
}

/** An entry committed but not yet integrated: its id (a bigint, as the driver reads it). */
export interface PendingAuditEntry extends AuditLeafFields {
  id: string | number;
}

/**
 * Takes the sequencer lock for the rest of `tx`: waits for it when `wait`, else answers false at
 * once when another sequencer holds it.
 */
export async function takeSequencerLock(tx: Queryable, wait: boolean): Promise<boolean> {
  if (wait) {
    await clientQuery(
      tx,
      'audit_sequencer_lock',
      `SELECT pg_advisory_xact_lock(${AUDIT_SEQUENCER_LOCK})`,
      [],
    );
    return true;
  }
  const [row] = await clientQuery<{ locked: boolean }>(
    tx,
    'audit_sequencer_try_lock',
    `SELECT pg_try_advisory_xact_lock(${AUDIT_SEQUENCER_LOCK}) AS locked`,
    [],
  );
  return row?.locked === true;
}

/**
 * The entries still to integrate: above the horizon (every entry at or below it is integrated)
 * and without a position. The horizon is read first, as a scalar subquery, so that its value bounds
 * both index scans (audit_log's primary key, audit_positions' entry ids) from below: a pass costs
 * what was written since the horizon last moved, whatever the size of the log. (Joined as a table
 * instead, the bound is only a join filter: the planner reads both indexes from their start, every
 * pass — 39 ms a poll at 100,000 entries, growing with the log.)
 *
 * The last id drawn bounds them from above. While ids come from the sequence alone (the column's
 * default; a bulk load that sets ids must setval the sequence past them, as the horizon also
 * needs) it excludes nothing: a committed entry's id was drawn before the statement reads the
 * sequence. But it tells the planner the ids form a range: with a lower bound alone, whose value
 * it cannot know when it plans, it reckons a third of the log qualifies, and for an existence
 * test or a count it then reads audit_log whole (16 ms a probe at 120,000 entries, in every
 * pass); for a range it reckons a sliver, and takes the index.
 */
const HORIZON = '(SELECT integrated_through FROM audit_sequencer_horizon)';
const PENDING_TEXT = `
  FROM audit_log AS a
  WHERE a.id > ${HORIZON}
    AND a.id <= (SELECT last_value FROM audit_log_id_seq)
    AND NOT EXISTS (SELECT 1 FROM audit_positions AS p
                    WHERE p.entry_id = a.id AND p.entry_id > ${HORIZON})`;
const PENDING = sql.raw(PENDING_TEXT);

/**
 * The sequencer's horizon: how it finds committed entries without a queue index that every writer
 * would maintain.
 *
 * Pending entries are the ones above `integratedThrough` without a position. The horizon may pass
 * an id only once nothing can still commit an entry with it: a transaction in flight holds drawn
 * ids that are invisible now and appear when it commits, possibly long after larger ids were
 * integrated. So each pass notes a candidate: the last id drawn so far, read before the pass's own
 * transaction has a transaction id, and that transaction id. An id is drawn only after its
 * transaction has a transaction id (audit_log.id's default), and transaction ids are given in
 * order, so every id up to `candidateId` belongs to a transaction below `candidateXid`. When a
 * later pass sees none of those still running (the candidate's own transaction has ended, so each
 * of them that runs is in that pass's snapshot, below its xmin), each of those ids is committed,
 * hence visible to that pass, or gone for good; once the visible ones are integrated, the horizon
 * moves to `candidateId`. A long transaction only holds the horizon back (the pending read then
 * covers more ids); it never loses an entry. With audit_log_id_seq's default CACHE 1, the
 * sequence's last_value is the last id drawn.
 *
 * (The snapshot's xmax is no such bound: it is one past the latest transaction to have ended, and
 * a writer that took its id after that and is still running lies at or above it. Used as the
 * candidate's bound, it let the horizon pass the ids of a writer in flight, whose entries were
 * then never integrated.)
 */
export interface SequencerHorizon {
  integratedThrough: number;
  /** Whether the candidate is settled: no transaction that could hold an id up to it is running. */
  candidateSettled: boolean;
  candidateId: number | null;
}

/** Where a pass starts: the horizon, the last id drawn and the size of the tree. */
export interface SequencerState {
  horizon: SequencerHorizon;
  /** The last entry id drawn, read before the pass's transaction writes: its next candidate. */
  lastDrawn: number;
  /** MAX(seq) of audit_positions: the next entry gets `size + 1`. */
  size: number;
}

/**
 * Reads the horizon, the last id drawn and the tree's size in one statement (one snapshot), in the
 * sequencer's transaction after its lock and before it writes (see SequencerHorizon).
 */
export async function sequencerState(tx: Queryable): Promise<SequencerState> {
  const [row] = await clientQuery<{
    integrated_through: string | number;
    candidate_id: string | number | null;
    settled: boolean | null;
    last_drawn: string | number;
    size: string | number;
  }>(
    tx,
    'audit_sequencer_state',
    `SELECT h.integrated_through, h.candidate_id,
       h.candidate_xid <= pg_snapshot_xmin(pg_current_snapshot()) AS settled,
       (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END
        FROM audit_log_id_seq) AS last_drawn,
       (SELECT COALESCE(MAX(seq), 0) FROM audit_positions) AS size
     FROM audit_sequencer_horizon AS h`,
    [],
  );
  if (!row) throw new Error('audit_sequencer_horizon has no row (migration 0019)');
  return {
    horizon: {
      integratedThrough: Number(row.integrated_through),
      candidateSettled: row.settled === true,
      candidateId: row.candidate_id === null ? null : Number(row.candidate_id),
    },
    lastDrawn: Number(row.last_drawn),
    size: Number(row.size),
  };
}

/** The last audit entry id drawn so far, committed or not (0 before the first). */
export async function lastDrawnEntryId(tx: Queryable): Promise<number> {
  const [row] = await clientQuery<{ last: string | number }>(
    tx,
    'audit_last_drawn_id',
    'SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END AS last FROM audit_log_id_seq',
    [],
  );
  return Number(row?.last ?? 0);
}

/**
 * What the sequencer has to do, in one round trip: whether a committed entry awaits integration,
 * whether the horizon can move (so later reads of pending entries stay short), and whether the
 * tree is larger than its latest stored checkpoint (a sequencer died between integrating and
 * signing).
 */
export async function sequencingWork(
  db: Queryable,
): Promise<{ pending: boolean; horizonBehind: boolean; unpublished: boolean }> {
  const [row] = await clientQuery<{
    pending: boolean;
    horizon_behind: boolean;
    unpublished: boolean;
  }>(db, 'audit_sequencing_work', SEQUENCING_WORK_TEXT, []);
  return {
    pending: row?.pending === true,
    horizonBehind: row?.horizon_behind === true,
    unpublished: row?.unpublished === true,
  };
}

/** The statement {@link sequencingWork} runs (without parameters: one plan per connection). */
const SEQUENCING_WORK_TEXT = `
      SELECT EXISTS (SELECT 1 ${PENDING_TEXT}) AS pending,
        EXISTS (SELECT 1 FROM audit_sequencer_horizon
                WHERE candidate_id > integrated_through
                  AND candidate_xid <= pg_snapshot_xmin(pg_current_snapshot())) AS horizon_behind,
        COALESCE((SELECT MAX(seq) FROM audit_positions), 0)
          > COALESCE((SELECT MAX(tree_size) FROM audit_checkpoints), 0) AS unpublished`;
/** {@link SEQUENCING_WORK_TEXT} for tests that read its plan. */
export const SEQUENCING_WORK = sql.raw(SEQUENCING_WORK_TEXT);

/** Whether a committed entry with an id up to `id` still awaits integration. */
export async function pendingThrough(db: Queryable, id: number): Promise<boolean> {
  const [row] = rowsOf<{ pending: boolean }>(await db.execute(pendingThroughQuery(id)));
  return row?.pending === true;
}

/** The statement {@link pendingThrough} runs. */
export function pendingThroughQuery(id: number): SQL {
  return sql`SELECT EXISTS (SELECT 1 ${PENDING} AND a.id <= ${id}) AS pending`;
}

/**
 * The statement {@link pendingEntries} runs, its limit written in: without parameters, each
 * connection plans it once, and the plan is the one for the limit it has.
 */
function pendingEntriesText(limit: number): string {
  return `
    SELECT a.id, ${PENDING_AT} AS at, a.actor_key_id AS "actorKeyId", a.actor_role AS "actorRole",
      a.signatory, a.action, a.subject_type AS "subjectType", a.subject_id AS "subjectId",
      a.change_digest AS "changeDigest"
    ${PENDING_TEXT}
    ORDER BY a.id
    LIMIT ${Math.trunc(limit)}`;
}

/** {@link pendingEntriesText} for tests that read its plan. */
export function pendingEntriesQuery(limit: number): SQL {
  return sql.raw(pendingEntriesText(limit));
}

/**
 * An entry's time as the sequencer reads it: already in `Date.prototype.toISOString`'s form
 * (UTC, milliseconds, truncated as the driver's parse truncates them), which costs PostgreSQL a
 * quarter of a microsecond and spares the sequencer a Date parsed and printed again per entry (a
 * tenth of its work). Entries are written by the service's clock, within years 1000–9999, where the
 * two forms agree; sequencer tests hold the leaves to ones recomputed from the entries read back.
 */
const PENDING_AT = `to_char(a.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** Up to `limit` committed, unintegrated entries, in id order (their ids, as read, may be text). */
export async function pendingEntries(tx: Queryable, limit: number): Promise<PendingAuditEntry[]> {
  // Read with the fields' own names, so the rows are the entries (no second object per entry).
  return clientQuery<PendingAuditEntry>(
    tx,
    `audit_pending_entries_${Math.trunc(limit)}`,
    pendingEntriesText(limit),
    [],
  );
}

/** Where a pass moves the horizon: see SequencerHorizon. */
export interface HorizonMove {
  integratedThrough: number;
  /** The new candidate, noted with this transaction's id. */
  candidateId: number;
}

/**
 * Gives entries `ids[i]` seq `firstSeq + i` and leaf hash `leaves[i*32 .. i*32+32)` (one multi-row
 * insert into audit_positions; the entries' own rows are not touched) and moves the horizon, in
 * one statement. The candidate's bound is this transaction's id, which its first write gives it:
 * read the candidate ({@link sequencerState}) before.
 */
export async function integrateEntries(
  tx: Queryable,
  firstSeq: number,
  ids: readonly number[],
  leaves: Uint8Array,
  move: HorizonMove | undefined,
): Promise<void> {
  if (ids.length === 0 && !move) return;
  await clientQuery(
    tx,
    'audit_integrate_entries',
    `WITH integrated AS (
       INSERT INTO audit_positions (seq, entry_id, leaf_hash)
       SELECT $1::bigint + v.ord, v.id,
         substring($2::bytea from ((v.ord - 1) * 32 + 1)::int for 32)
       FROM unnest(string_to_array($3, ',')::bigint[]) WITH ORDINALITY AS v(id, ord))
     UPDATE audit_sequencer_horizon
     SET integrated_through = $5::bigint, candidate_id = $6::bigint,
       candidate_xid = pg_current_xact_id()
     WHERE $4::boolean`,
    [
      firstSeq - 1,
      Buffer.from(leaves.buffer, leaves.byteOffset, leaves.byteLength),
      ids.join(','),
      move !== undefined,
      move?.integratedThrough ?? 0,
      move?.candidateId ?? 0,
    ],
  );
}

/**
 * How far sequencing is behind: entries committed but not yet in the tree, and the age in seconds
 * of the oldest of them (by the database's clock against the entry's time), 0 when none.
 */
export async function sequencingLag(
  db: Queryable,
): Promise<{ pendingEntries: number; oldestPendingSeconds: number }> {
  const [row] = rowsOf<{ n: string | number; age: string | number | null }>(
    await db.execute(SEQUENCING_LAG),
  );
  return {
    pendingEntries: Number(row?.n ?? 0),
    oldestPendingSeconds: Math.max(0, Number(row?.age ?? 0)),
  };
}

/** The statement {@link sequencingLag} runs. */
export const SEQUENCING_LAG = sql`
  SELECT count(*) AS n, EXTRACT(EPOCH FROM (now() - min(a.at))) AS age ${PENDING}`;
