import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import { uuidArray } from '../db/arrays';
import { rowsOf, type Queryable } from '../db/client';
import { issuers } from '../db/schema/issuers';
import { marks } from '../db/schema/marks';
import { statusLists } from '../db/schema/status-lists';

/** The status lists of the given issuers (every issuer's when `issuerIds` is null), oldest first. */
export async function listStatusLists(
  db: Queryable,
  params: { issuerIds: readonly string[] | null },
): Promise<{ id: string; issuerId: string; batchId: string | null }[]> {
  return db
    .select({ id: statusLists.id, issuerId: statusLists.issuerId, batchId: statusLists.batchId })
    .from(statusLists)
    .where(
      params.issuerIds === null ? undefined : inArray(statusLists.issuerId, [...params.issuerIds]),
    )
    .orderBy(asc(statusLists.createdAt), asc(statusLists.id));
}

/** The ids of the given issuers (every issuer when `issuerIds` is null) that are suspended. */
export async function suspendedIssuers(
  db: Queryable,
  params: { issuerIds: readonly string[] | null },
): Promise<string[]> {
  const suspended = eq(issuers.status, 'suspended');
  const rows = await db
    .select({ id: issuers.id })
    .from(issuers)
    .where(
      params.issuerIds === null
        ? suspended
        : and(suspended, inArray(issuers.id, [...params.issuerIds])),
    )
    .orderBy(asc(issuers.id));
  return rows.map((row) => row.id);
}

/**
 * The serials of batches' marks at the given positions (0-based; a mark's position is its ordinal
 * less one), through the (batch, ordinal) index: every batch of a bundle in one read, each batch's
 * marks in position order.
 */
export async function serialsAtPositions(
  db: Queryable,
  params: { batches: readonly { batchId: string; positions: readonly number[] }[] },
): Promise<{ batchId: string; serial: string; position: number }[]> {
  const batchIds: string[] = [];
  const ordinals: number[] = [];
  for (const { batchId, positions } of params.batches)
    for (const position of positions) {
      batchIds.push(batchId);
      ordinals.push(position + 1);
    }
  if (ordinals.length === 0) return [];
  const rows = rowsOf<{ batch_id: string; serial: string; ordinal: number }>(
    await db.execute(sql`
      SELECT m.batch_id, m.serial::text AS serial, m.ordinal
      FROM unnest(${uuidArray(batchIds)}, ${`{${ordinals.join(',')}}`}::int[]) AS v(batch_id, ordinal)
      JOIN ${marks} AS m ON m.batch_id = v.batch_id AND m.ordinal = v.ordinal
      ORDER BY m.batch_id, m.ordinal`),
  );
  // Serials travel as 16-digit text, leading zeros kept, as a scanned code gives them.
  return rows.map((r) => ({
    batchId: r.batch_id,
    serial: r.serial.padStart(16, '0'),
    position: Number(r.ordinal) - 1,
  }));
}
