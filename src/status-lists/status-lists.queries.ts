import { randomUUID } from 'node:crypto';
import { and, asc, eq, inArray, isNull, lt, sql } from 'drizzle-orm';
import { uuidArray } from '../db/arrays';
import type { Database, Queryable } from '../db/client';
import { certificates } from '../db/schema/certificates';
import { markBatches } from '../db/schema/mark-batches';
import { signingKeys } from '../db/schema/signing-keys';
import {
  statusListEntries,
  statusLists,
  type StatusListRow,
  type StatusPurpose,
} from '../db/schema/status-lists';
import { emptyBitstring, postgresBitNumber } from '../crypto/bitstring-status-list';

/** A list as a reader needs it to know whether its signed copy is current (no bits). */
export interface ListHead {
  id: string;
  issuerId: string;
  purpose: StatusPurpose;
  batchId: string | null;
  length: number;
  version: number;
  changedAt: Date;
  /** The issuer's current signing key: lists are signed with it. */
  kid: string | null;
}

export async function insertStatusList(
  db: Queryable,
  params: {
    issuerId: string;
    purpose: StatusPurpose;
    batchId: string | null;
    length: number;
    bits?: Uint8Array;
    at: Date;
  },
): Promise<StatusListRow | undefined> {
  const [row] = await db
    .insert(statusLists)
    .values({
      id: randomUUID(),
      issuerId: params.issuerId,
      purpose: params.purpose,
      batchId: params.batchId,
      length: params.length,
      bits: params.bits ?? emptyBitstring(params.length),
      changedAt: params.at,
      createdAt: params.at,
    })
    // A batch has one list: a second writer of it (a void racing the start-up backfill) yields.
    .onConflictDoNothing({ target: statusLists.batchId })
    .returning();
  return row;
}

/** Mark batches that have no status list yet (issued before status lists existed). */
export async function batchesWithoutList(db: Queryable, limit: number) {
  return db
    .select({ id: markBatches.id, issuerId: markBatches.issuerId, count: markBatches.count })
    .from(markBatches)
    .where(
      sql`NOT EXISTS (SELECT 1 FROM ${statusLists} WHERE ${statusLists.batchId} = ${markBatches.id})`,
    )
    .orderBy(asc(markBatches.createdAt))
    .limit(limit);
}

/**
 * The issuer's certificate lists of `purpose` that can still hand out indexes, oldest first,
 * locked for update (so two issuances never choose the same index), with what each has handed out.
 */
export async function lockOpenCertificateLists(
  tx: Queryable,
  params: { issuerId: string; purpose: StatusPurpose; capacity: number },
): Promise<{ id: string; length: number; allocated: number }[]> {
  return tx
    .select({ id: statusLists.id, length: statusLists.length, allocated: statusLists.allocated })
    .from(statusLists)
    .where(
      and(
        eq(statusLists.issuerId, params.issuerId),
        eq(statusLists.purpose, params.purpose),
        isNull(statusLists.batchId),
        lt(statusLists.allocated, params.capacity),
      ),
    )
    .orderBy(asc(statusLists.createdAt))
    .for('update');
}

/** Which of `candidates` a list has already handed out. */
export async function takenIndexes(
  tx: Queryable,
  params: { listId: string; candidates: readonly number[] },
): Promise<Set<number>> {
  const rows = await tx
    .select({ index: statusListEntries.index })
    .from(statusListEntries)
    .where(
      and(
        eq(statusListEntries.listId, params.listId),
        inArray(statusListEntries.index, [...params.candidates]),
      ),
    );
  return new Set(rows.map((r) => r.index));
}

/** Hands indexes of (locked) lists to certificates, and counts them as handed out. */
export async function insertEntries(
  tx: Queryable,
  entries: readonly { listId: string; index: number; certificateId: string }[],
): Promise<void> {
  if (entries.length === 0) return;
  // One JSON parameter turned into records by PostgreSQL (an import's chunk: thousands of rows).
  const records = entries.map((e) => ({
    list_id: e.listId,
    index: e.index,
    certificate_id: e.certificateId,
  }));
  await tx.execute(sql`
    INSERT INTO status_list_entries (list_id, index, certificate_id)
    SELECT list_id, index, certificate_id
    FROM jsonb_populate_recordset(NULL::status_list_entries, ${JSON.stringify(records)}::jsonb)`);
  const perList = new Map<string, number>();
  for (const e of entries) perList.set(e.listId, (perList.get(e.listId) ?? 0) + 1);
  for (const [listId, n] of perList) {
    await tx
      .update(statusLists)
      .set({ allocated: sql`${statusLists.allocated} + ${n}` })
      .where(eq(statusLists.id, listId));
  }
}

export interface CertificateEntry {
  listId: string;
  purpose: StatusPurpose;
  index: number;
}

/** The entries of each of `certificateIds`, revocation first (a certificate without any: absent). */
export async function entriesOfCertificates(
  db: Queryable,
  certificateIds: readonly string[],
): Promise<Map<string, CertificateEntry[]>> {
  const byCertificate = new Map<string, CertificateEntry[]>();
  if (certificateIds.length === 0) return byCertificate;
  const rows = await db
    .select({
      certificateId: statusListEntries.certificateId,
      listId: statusListEntries.listId,
      purpose: statusLists.purpose,
      index: statusListEntries.index,
    })
    .from(statusListEntries)
    .innerJoin(statusLists, eq(statusLists.id, statusListEntries.listId))
    .where(sql`${statusListEntries.certificateId} = ANY(${uuidArray(certificateIds)})`);
  for (const { certificateId, ...entry } of rows) {
    if (!certificateId) continue;
    const entries = byCertificate.get(certificateId) ?? [];
    entries.push(entry);
    byCertificate.set(certificateId, entries);
  }
  for (const entries of byCertificate.values())
    entries.sort((a, b) => (a.purpose < b.purpose ? -1 : 1));
  return byCertificate;
}

/**
 * Sets a certificate's bits: its revocation bit to `revoked`, its suspension bit to `suspended`.
 * A list whose bit really changes gets a new version; the others are left alone.
 */
export async function setCertificateBits(
  tx: Queryable,
  params: { certificateId: string; revoked: boolean; suspended: boolean; at: Date },
): Promise<void> {
  const revoked = params.revoked ? 1 : 0;
  const suspended = params.suspended ? 1 : 0;
  // The bit each list should hold, and its PostgreSQL bit number (see postgresBitNumber).
  const bit = sql`(CASE WHEN l.purpose = 'revocation' THEN ${revoked}::int ELSE ${suspended}::int END)`;
  const position = sql`((e.index / 8) * 8 + 7 - e.index % 8)`;
  await tx.execute(sql`
    UPDATE ${statusLists} AS l
    SET bits = set_bit(l.bits, ${position}, ${bit}), version = l.version + 1, changed_at = ${params.at}
    FROM ${statusListEntries} AS e
    WHERE e.list_id = l.id AND e.certificate_id = ${params.certificateId}
      AND get_bit(l.bits, ${position}) <> ${bit}`);
}

/** An issuer's certificate suspension lists, locked, with their bits. */
export async function lockSuspensionLists(
  tx: Queryable,
  issuerId: string,
): Promise<{ id: string; bits: Uint8Array; version: number }[]> {
  return tx
    .select({ id: statusLists.id, bits: statusLists.bits, version: statusLists.version })
    .from(statusLists)
    .where(
      and(
        eq(statusLists.issuerId, issuerId),
        eq(statusLists.purpose, 'suspension'),
        isNull(statusLists.batchId),
      ),
    )
    .orderBy(asc(statusLists.id))
    .for('update');
}

/** The entries of one list with the status of their certificate. */
export async function entriesWithStatus(db: Queryable, listId: string) {
  return db
    .select({ index: statusListEntries.index, status: certificates.status })
    .from(statusListEntries)
    .innerJoin(certificates, eq(certificates.id, statusListEntries.certificateId))
    .where(eq(statusListEntries.listId, listId));
}

/** A list's bitstring replaced whole (a new version). */
export async function replaceBits(
  tx: Queryable,
  params: { listId: string; bits: Uint8Array; at: Date },
): Promise<void> {
  await tx
    .update(statusLists)
    .set({ bits: params.bits, version: sql`${statusLists.version} + 1`, changedAt: params.at })
    .where(eq(statusLists.id, params.listId));
}

/** Sets the bit of a mark (its position in the batch) in its batch's list. */
export async function setBatchBit(
  tx: Queryable,
  params: { batchId: string; position: number; value: boolean; at: Date },
): Promise<number> {
  const bit = postgresBitNumber(params.position);
  const value = params.value ? 1 : 0;
  const rows = await tx
    .update(statusLists)
    .set({
      bits: sql`set_bit(${statusLists.bits}, ${bit}, ${value})`,
      version: sql`${statusLists.version} + 1`,
      changedAt: params.at,
    })
    .where(
      and(
        eq(statusLists.batchId, params.batchId),
        sql`get_bit(${statusLists.bits}, ${bit}) <> ${value}`,
      ),
    )
    .returning({ id: statusLists.id });
  return rows.length;
}

/**
 * Every bit of a batch's list cleared (a new version), when any is set: its marks all active.
 * Returns how many lists changed (0 or 1).
 */
export async function clearBatchBits(
  tx: Queryable,
  params: { batchId: string; at: Date },
): Promise<number> {
  const rows = await tx
    .update(statusLists)
    .set({
      bits: sql`decode(repeat('00', octet_length(${statusLists.bits})), 'hex')`,
      version: sql`${statusLists.version} + 1`,
      changedAt: params.at,
    })
    .where(
      and(
        eq(statusLists.batchId, params.batchId),
        sql`${statusLists.bits} <> decode(repeat('00', octet_length(${statusLists.bits})), 'hex')`,
      ),
    )
    .returning({ id: statusLists.id });
  return rows.length;
}

/** The list of a mark batch. */
export async function findBatchList(db: Queryable, batchId: string) {
  const [row] = await db
    .select({ id: statusLists.id })
    .from(statusLists)
    .where(eq(statusLists.batchId, batchId))
    .limit(1);
  return row;
}

/**
 * The head of a list, read on every request for it: prepared once per database (building a
 * drizzle query costs more than PostgreSQL spends answering it).
 */
function prepareHead(db: Database) {
  return db
    .select({
      id: statusLists.id,
      issuerId: statusLists.issuerId,
      purpose: statusLists.purpose,
      batchId: statusLists.batchId,
      length: statusLists.length,
      version: statusLists.version,
      changedAt: statusLists.changedAt,
      kid: signingKeys.kid,
    })
    .from(statusLists)
    .leftJoin(
      signingKeys,
      and(eq(signingKeys.issuerId, statusLists.issuerId), eq(signingKeys.status, 'current')),
    )
    .where(eq(statusLists.id, sql.placeholder('id')))
    .limit(1)
    .prepare('status_list_head');
}

const preparedHeads = new WeakMap<Database, ReturnType<typeof prepareHead>>();

export async function findListHead(db: Database, id: string): Promise<ListHead | undefined> {
  let head = preparedHeads.get(db);
  if (!head) {
    head = prepareHead(db);
    preparedHeads.set(db, head);
  }
  const [row] = await head.execute({ id });
  return row;
}

/**
 * The heads of the lists among `ids` (in no particular order): one read for a whole offline bundle,
 * as {@link findListHead} reads one.
 */
export async function findListHeads(db: Queryable, ids: readonly string[]): Promise<ListHead[]> {
  if (ids.length === 0) return [];
  return db
    .select({
      id: statusLists.id,
      issuerId: statusLists.issuerId,
      purpose: statusLists.purpose,
      batchId: statusLists.batchId,
      length: statusLists.length,
      version: statusLists.version,
      changedAt: statusLists.changedAt,
      kid: signingKeys.kid,
    })
    .from(statusLists)
    .leftJoin(
      signingKeys,
      and(eq(signingKeys.issuerId, statusLists.issuerId), eq(signingKeys.status, 'current')),
    )
    .where(sql`${statusLists.id} = ANY(${uuidArray(ids)})`);
}

/** The bits of the lists among `ids` (in no particular order), to sign those not signed yet. */
export async function listBitsOf(db: Queryable, ids: readonly string[]) {
  if (ids.length === 0) return [];
  return db
    .select({ id: statusLists.id, bits: statusLists.bits })
    .from(statusLists)
    .where(sql`${statusLists.id} = ANY(${uuidArray(ids)})`);
}
