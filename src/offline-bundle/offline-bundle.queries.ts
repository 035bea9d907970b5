import { and, asc, eq, inArray } from 'drizzle-orm';
import type { Queryable } from '../db/client';
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

/**
 * The serials of a batch's marks at the given positions (0-based; a mark's position is its ordinal
 * less one), through the (batch, ordinal) index.
 */
export async function serialsAtPositions(
  db: Queryable,
  params: { batchId: string; positions: readonly number[] },
): Promise<{ serial: string; position: number }[]> {
  if (params.positions.length === 0) return [];
  const rows = await db
    .select({ serial: marks.serial, ordinal: marks.ordinal })
    .from(marks)
    .where(
      and(
        eq(marks.batchId, params.batchId),
        inArray(
          marks.ordinal,
          params.positions.map((p) => p + 1),
        ),
      ),
    );
  // Serials travel as 16-digit text, leading zeros kept, as a scanned code gives them.
  return rows.map((r) => ({ serial: String(r.serial).padStart(16, '0'), position: r.ordinal - 1 }));
}
