import { and, count, desc, eq, sql } from 'drizzle-orm';
import { certificates } from '../db/schema/certificates';
import type { Queryable } from '../db/client';
import { rowsOf } from '../db/client';
import {
  customsConsumptions,
  type ConsumptionStatus,
  type CustomsConsumptionRow,
} from '../db/schema/customs-consumptions';

/** Advisory-lock namespace of declaration numbers (two-key form: apart from every one-key lock). */
const DECLARATION_LOCK_SPACE = 0x63_75_73_74; // "cust"

/**
 * Serialises decisions on one declaration number across every service instance until the caller's
 * transaction ends, so two simultaneous copies of a declaration are decided once: the second waits,
 * then finds the first one's ledger row. (Two numbers sharing a hash only wait for each other.)
 */
export async function lockDeclaration(tx: Queryable, declarationNo: string): Promise<void> {
  await tx.execute(
    sql`SELECT pg_advisory_xact_lock(${DECLARATION_LOCK_SPACE}, hashtext(${declarationNo}))`,
  );
}

export async function findConsumptionByDeclaration(
  db: Queryable,
  declarationNo: string,
): Promise<CustomsConsumptionRow | undefined> {
  const [row] = await db
    .select()
    .from(customsConsumptions)
    .where(eq(customsConsumptions.declarationNo, declarationNo))
    .limit(1);
  return row;
}

export interface DeductQuantityParams {
  certificateId: string;
  quantity: number;
  /** Today in China Standard Time, `YYYY-MM-DD`: the certificate must be within its validity days. */
  day: string;
}

/**
 * Deducts `quantity` from an exemption in ONE conditional statement, or does nothing and returns
 * undefined. Every condition that can change while requests are in flight is re-checked here, at
 * the instant of the write, never taken from an earlier read:
 *
 * - `remaining >= quantity`: under READ COMMITTED a concurrent deduction holding the row makes this
 *   UPDATE wait, then re-evaluate its WHERE clause on the committed row (PostgreSQL's EvalPlanQual),
 *   so two deductions can never both pass on the same units. The CHECK constraint
 *   `certificates_remaining_non_negative` backs it.
 * - `status = 'valid'`: a revocation locks the row (SELECT … FOR UPDATE) before changing it, so a
 *   deduction either commits before the revocation can start, or waits and then sees `revoked`.
 * - the issuer is active: `FOR SHARE` on the issuer row conflicts with the row lock of a suspension,
 *   so a suspension and a deduction are ordered the same way.
 */
export async function deductExemptionQuantity(
  tx: Queryable,
  p: DeductQuantityParams,
): Promise<{ remaining: number } | undefined> {
  const [row] = rowsOf<{ remaining: number }>(
    await tx.execute(sql`
      WITH active_issuer AS (
        SELECT i.id FROM issuers i
        JOIN certificates c ON c.issuer_id = i.id
        WHERE c.id = ${p.certificateId} AND i.status = 'active'
        FOR SHARE OF i
      )
      UPDATE certificates
      SET remaining = remaining - ${p.quantity}
      WHERE id = ${p.certificateId}
        AND scheme = 'CCC_EXEMPTION'
        AND status = 'valid'
        AND remaining >= ${p.quantity}
        AND valid_from <= ${p.day}::date
        AND valid_until >= ${p.day}::date
        AND issuer_id IN (SELECT id FROM active_issuer)
      RETURNING remaining`),
  );
  return row ? { remaining: Number(row.remaining) } : undefined;
}

export type InsertConsumptionParams = Omit<typeof customsConsumptions.$inferInsert, 'id'>;

export async function insertConsumption(
  tx: Queryable,
  row: InsertConsumptionParams,
): Promise<CustomsConsumptionRow> {
  const [inserted] = await tx.insert(customsConsumptions).values(row).returning();
  return inserted!;
}

export interface ListConsumptionsParams {
  certificateId: string;
  /** Only this outcome; undefined lists both. */
  status?: ConsumptionStatus | undefined;
  limit: number;
  offset: number;
}

/** An exemption's ledger, newest first. */
export async function listConsumptions(
  db: Queryable,
  p: ListConsumptionsParams,
): Promise<{ rows: CustomsConsumptionRow[]; total: number }> {
  const where = and(
    eq(customsConsumptions.certificateId, p.certificateId),
    p.status ? eq(customsConsumptions.status, p.status) : undefined,
  );
  const [rows, [total]] = await Promise.all([
    db
      .select()
      .from(customsConsumptions)
      .where(where)
      .orderBy(desc(customsConsumptions.id))
      .limit(p.limit)
      .offset(p.offset),
    db.select({ n: count() }).from(customsConsumptions).where(where),
  ]);
  return { rows, total: total?.n ?? 0 };
}

export interface ListRefusalsParams {
  /** Only refusals with this finding, e.g. QUANTITY_EXHAUSTED. */
  reasonCode?: string | undefined;
  issuerId?: string | undefined;
  limit: number;
  offset: number;
}

/** Refused declarations across every exemption, newest first, with the exemption they named. */
export async function listRefusals(db: Queryable, p: ListRefusalsParams) {
  const where = and(
    eq(customsConsumptions.status, 'refused'),
    p.reasonCode
      ? sql`${customsConsumptions.reasons} @> ${JSON.stringify([{ code: p.reasonCode }])}::jsonb`
      : undefined,
    p.issuerId ? eq(certificates.issuerId, p.issuerId) : undefined,
  );
  const [rows, [total]] = await Promise.all([
    db
      .select({
        consumption: customsConsumptions,
        number: certificates.number,
        issuerId: certificates.issuerId,
      })
      .from(customsConsumptions)
      .innerJoin(certificates, eq(certificates.id, customsConsumptions.certificateId))
      .where(where)
      .orderBy(desc(customsConsumptions.id))
      .limit(p.limit)
      .offset(p.offset),
    db
      .select({ n: count() })
      .from(customsConsumptions)
      .innerJoin(certificates, eq(certificates.id, customsConsumptions.certificateId))
      .where(where),
  ]);
  return { rows, total: total?.n ?? 0 };
}
