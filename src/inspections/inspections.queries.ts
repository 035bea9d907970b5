import {
  and,
  asc,
  count,
  desc,
  eq,
  getTableColumns,
  gte,
  inArray,
  lte,
  sql,
  type SQL,
} from 'drizzle-orm';
import type { Queryable } from '../db/client';
import { certificates } from '../db/schema/certificates';
import {
  inspectionDraws,
  type DrawFilterJson,
  type InspectionDrawRow,
} from '../db/schema/inspection-draws';
import { issuers } from '../db/schema/issuers';

export interface CandidateParams {
  filter: DrawFilterJson;
  /** China calendar day: certificates in force on it. */
  day: string;
}

/**
 * The certificates a draw picks from: in force on `day` (stored status valid, within their
 * validity days, issuer not suspended) and matching the filter. The region filter is a prefix of
 * the holder's GB/T 2260 region (2 digits a province, 4 a prefecture, 6 a county).
 */
function candidateConditions(p: CandidateParams): SQL {
  const conditions: SQL[] = [
    eq(certificates.status, 'valid'),
    lte(certificates.validFrom, p.day),
    gte(certificates.validUntil, p.day),
    eq(issuers.status, 'active'),
  ];
  if (p.filter.scheme) conditions.push(eq(certificates.scheme, p.filter.scheme));
  if (p.filter.issuerId) conditions.push(eq(certificates.issuerId, p.filter.issuerId));
  if (p.filter.region)
    conditions.push(sql`${certificates.holderRegion} LIKE ${`${p.filter.region}%`}`);
  return and(...conditions)!;
}

export async function countCandidates(db: Queryable, p: CandidateParams): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(certificates)
    .innerJoin(issuers, eq(issuers.id, certificates.issuerId))
    .where(candidateConditions(p));
  return Number(row?.n ?? 0);
}

/** Candidate certificate ids (sorting is left to the caller, in code-point order). */
export async function candidateIds(db: Queryable, p: CandidateParams): Promise<string[]> {
  const rows = await db
    .select({ id: certificates.id })
    .from(certificates)
    .innerJoin(issuers, eq(issuers.id, certificates.issuerId))
    .where(candidateConditions(p));
  return rows.map((r) => r.id);
}

export async function insertDraw(
  db: Queryable,
  row: typeof inspectionDraws.$inferInsert,
): Promise<InspectionDrawRow> {
  const [inserted] = await db.insert(inspectionDraws).values(row).returning();
  return inserted!;
}

export interface RecordDrawParams {
  id: string;
  candidates: string[];
  candidatesDigest: string;
  selectedCertificates: string[];
  selectedInspectors: string[];
  drawnAt: Date;
}

/** Records the result of a committed draw; undefined if it was not (or no longer) committed. */
export async function recordDrawResult(
  db: Queryable,
  p: RecordDrawParams,
): Promise<InspectionDrawRow | undefined> {
  const [row] = await db
    .update(inspectionDraws)
    .set({
      status: 'drawn',
      candidates: p.candidates,
      candidatesDigest: p.candidatesDigest,
      selectedCertificates: p.selectedCertificates,
      selectedInspectors: p.selectedInspectors,
      drawnAt: p.drawnAt,
    })
    .where(and(eq(inspectionDraws.id, p.id), eq(inspectionDraws.status, 'committed')))
    .returning();
  return row;
}

export async function findDraw(db: Queryable, id: string): Promise<InspectionDrawRow | undefined> {
  const [row] = await db.select().from(inspectionDraws).where(eq(inspectionDraws.id, id)).limit(1);
  return row;
}

/** A page of draws, newest first, without their (possibly long) candidate lists. */
export async function listDraws(
  db: Queryable,
  p: { limit: number; offset: number },
): Promise<{
  rows: (Omit<InspectionDrawRow, 'candidates'> & { candidatesCount: number | null })[];
  total: number;
}> {
  const { candidates: _candidates, ...columns } = getTableColumns(inspectionDraws);
  const rows = await db
    .select({
      ...columns,
      candidatesCount: sql<number | null>`jsonb_array_length(${inspectionDraws.candidates})`,
    })
    .from(inspectionDraws)
    .orderBy(desc(inspectionDraws.committedAt), desc(inspectionDraws.id))
    .limit(p.limit)
    .offset(p.offset);
  const [total] = await db.select({ n: count() }).from(inspectionDraws);
  return { rows, total: Number(total?.n ?? 0) };
}

export interface DrawnCertificate {
  id: string;
  number: string;
  scheme: string;
  holderName: string;
  holderUscc: string | null;
  issuerId: string;
  issuerName: string;
}

export async function drawnCertificates(
  db: Queryable,
  ids: readonly string[],
): Promise<DrawnCertificate[]> {
  if (ids.length === 0) return [];
  return db
    .select({
      id: certificates.id,
      number: certificates.number,
      scheme: certificates.scheme,
      holderName: certificates.holderName,
      holderUscc: certificates.holderUscc,
      issuerId: issuers.id,
      issuerName: issuers.name,
    })
    .from(certificates)
    .innerJoin(issuers, eq(issuers.id, certificates.issuerId))
    .where(inArray(certificates.id, [...ids]))
    .orderBy(asc(certificates.id));
}
