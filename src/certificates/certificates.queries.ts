import { and, asc, count, eq, gt, ilike, inArray, lt, or, sql, type SQL } from 'drizzle-orm';
import { textArray, uuidArray } from '../db/arrays';
import { rowsOf, type Queryable } from '../db/client';
import {
  certificates,
  type CertificateRow,
  type CertificateStatus,
  type SignatoryJson,
} from '../db/schema/certificates';
import { certificateStatusEvents } from '../db/schema/certificate-status-events';
import { issuers, type IssuerRow } from '../db/schema/issuers';
import { takeTurn } from '../db/turns';

export interface CertificateWithIssuer {
  certificate: CertificateRow;
  issuer: IssuerRow;
}

/**
 * Writes certificates with one insert, however many (an import's chunk): the rows travel as one
 * JSON parameter that PostgreSQL turns into records (`jsonb_populate_recordset`), so a thousand
 * rows cost one parameter to bind, not 25,000. A number the issuer already has is skipped (never
 * overwritten). Returns the ids of the rows written.
 */
export async function insertCertificates(
  db: Queryable,
  rows: readonly CertificateRow[],
): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const records = rows.map((r) => ({
    id: r.id,
    issuer_id: r.issuerId,
    number: r.number,
    scheme: r.scheme,
    holder: r.holder,
    holder_uscc: r.holderUscc,
    holder_name: r.holderName,
    holder_region: r.holderRegion,
    manufacturer: r.manufacturer,
    factories: r.factories,
    scope: r.scope,
    standards: r.standards,
    valid_from: r.validFrom,
    valid_until: r.validUntil,
    quantity: r.quantity,
    remaining: r.remaining,
    purpose: r.purpose,
    signatory: r.signatory,
    status: r.status,
    status_reason: r.statusReason,
    status_changed_at: r.statusChangedAt?.toISOString() ?? null,
    kid: r.kid,
    credential: r.credential,
    credential_format: r.credentialFormat,
    created_at: r.createdAt.toISOString(),
  }));
  const written = rowsOf<{ id: string }>(
    await db.execute(sql`
      INSERT INTO certificates
      SELECT * FROM jsonb_populate_recordset(NULL::certificates, ${JSON.stringify(records)}::jsonb)
      ON CONFLICT (issuer_id, number) DO NOTHING
      RETURNING id`),
  );
  return new Set(written.map((r) => r.id));
}

/** The issuer's certificates with these numbers (an import's chunk: which are there already). */
export async function findIssuerCertificatesByNumbers(
  db: Queryable,
  params: { issuerId: string; numbers: readonly string[] },
): Promise<CertificateRow[]> {
  if (params.numbers.length === 0) return [];
  return db
    .select()
    .from(certificates)
    .where(
      and(
        eq(certificates.issuerId, params.issuerId),
        inArray(certificates.number, [...params.numbers]),
      ),
    );
}

export async function findCertificate(
  db: Queryable,
  id: string,
): Promise<CertificateWithIssuer | undefined> {
  const [row] = await db
    .select({ certificate: certificates, issuer: issuers })
    .from(certificates)
    .innerJoin(issuers, eq(issuers.id, certificates.issuerId))
    .where(eq(certificates.id, id))
    .limit(1);
  return row;
}

/** The issuer's keys declared compromised that still sign a stored credential. */
export async function compromisedKidsInUse(db: Queryable, issuerId: string): Promise<string[]> {
  const rows = rowsOf<{ kid: string }>(
    await db.execute(sql`
      SELECT k.kid FROM signing_keys AS k
      WHERE k.issuer_id = ${issuerId} AND k.status = 'compromised'
        AND EXISTS (SELECT 1 FROM certificates AS c WHERE c.kid = k.kid)
      ORDER BY k.kid`),
  );
  return rows.map((r) => r.kid);
}

/** Whether the issuer's key `kid` is declared compromised. */
export async function isCompromisedKey(db: Queryable, kid: string): Promise<boolean> {
  const [row] = rowsOf<{ compromised: boolean }>(
    await db.execute(sql`
      SELECT EXISTS (SELECT 1 FROM signing_keys
                     WHERE kid = ${kid} AND status = 'compromised') AS compromised`),
  );
  return row?.compromised === true;
}

/** How many of the issuer's certificates carry a credential signed with a compromised key. */
export async function countSignedWithCompromisedKeys(
  db: Queryable,
  issuerId: string,
): Promise<number> {
  const [row] = rowsOf<{ n: string | number }>(
    await db.execute(sql`
      SELECT count(*) AS n FROM signing_keys AS k
      JOIN certificates AS c ON c.kid = k.kid
      WHERE k.issuer_id = ${issuerId} AND k.status = 'compromised'`),
  );
  return Number(row?.n ?? 0);
}

/**
 * The next certificates signed with `kid` (by id, after `afterId`; one range of certificates_kid),
 * locked for update, skipping rows another transaction holds (a status change, a check `at`, the
 * same work on another instance): a sweep that finds some left goes again.
 */
export async function lockSignedWith(
  tx: Queryable,
  params: { kid: string; afterId: string | null; limit: number },
): Promise<CertificateRow[]> {
  return tx
    .select()
    .from(certificates)
    .where(
      and(
        eq(certificates.kid, params.kid),
        params.afterId ? gt(certificates.id, params.afterId) : undefined,
      ),
    )
    .orderBy(asc(certificates.kid), asc(certificates.id))
    .limit(params.limit)
    .for('update', { of: certificates, skipLocked: true });
}

/** The issuers with a stored credential still signed with a key declared compromised. */
export async function issuersWithCompromisedCredentials(db: Queryable): Promise<string[]> {
  const rows = rowsOf<{ issuer_id: string }>(
    await db.execute(sql`
      SELECT DISTINCT k.issuer_id FROM signing_keys AS k
      WHERE k.status = 'compromised'
        AND EXISTS (SELECT 1 FROM certificates AS c WHERE c.kid = k.kid)`),
  );
  return rows.map((r) => r.issuer_id);
}

/** A certificate's credential, signed anew (its content is unchanged), in `format`. */
export async function replaceCredentials(
  db: Queryable,
  rows: readonly { id: string; credential: string; kid: string }[],
  format: number,
): Promise<void> {
  if (rows.length === 0) return;
  // One statement for a page (a statement a row made signing again a page of 500 wait on 500
  // round trips): the rows as parallel arrays.
  await db.execute(sql`
    UPDATE certificates AS c
    SET credential = v.credential, kid = v.kid, credential_format = ${format}
    FROM unnest(${uuidArray(rows.map((r) => r.id))}, ${textArray(rows.map((r) => r.credential))},
      ${textArray(rows.map((r) => r.kid))}) AS v(id, credential, kid)
    WHERE c.id = v.id`);
}

/** Arbitrary but fixed: one instance at a time upgrades credentials ("cred"). */
const CREDENTIAL_UPGRADE_LOCK_ID = 0x63_72_65_64;

/** Whether this transaction holds the credential-upgrade lock (never waits for it). */
export async function tryLockCredentialUpgrade(tx: Queryable): Promise<boolean> {
  const [row] = rowsOf<{ locked: boolean }>(
    await tx.execute(
      sql`SELECT pg_try_advisory_xact_lock(${CREDENTIAL_UPGRADE_LOCK_ID}) AS locked`,
    ),
  );
  return row?.locked === true;
}

/**
 * Up to `limit` certificates whose credential is in a format older than `format`, with their
 * issuer, locked for update (skipping rows a status change holds: the next page gets them).
 */
export async function lockOutdatedCredentials(
  tx: Queryable,
  params: { format: number; limit: number },
): Promise<CertificateWithIssuer[]> {
  return tx
    .select({ certificate: certificates, issuer: issuers })
    .from(certificates)
    .innerJoin(issuers, eq(issuers.id, certificates.issuerId))
    .where(lt(certificates.credentialFormat, params.format))
    .orderBy(asc(certificates.id))
    .limit(params.limit)
    .for('update', { of: certificates, skipLocked: true });
}

/**
 * The numbers a typed certificate number may have been meant as, the typed one first: as typed;
 * folded (NFKC turns the full-width letters and digits of a Chinese input method into ASCII) with
 * no spaces; and that in capitals, as numbers are printed. Each is compared exactly, so the index
 * on numbers serves them all.
 */
export function typedNumberForms(typed: string): string[] {
  const folded = typed.normalize('NFKC').replace(/\s+/g, '');
  return [...new Set([typed, folded, folded.toUpperCase()])].filter((form) => form.length > 0);
}

/**
 * Certificates with this number (numbers are unique per issuer, not globally), as typed or in the
 * first of its other forms that names one ({@link typedNumberForms}): a consumer who types a
 * number in lower case or full-width characters is answered about that certificate, not told it
 * is forged (a contract probe).
 */
export async function findCertificatesByNumber(
  db: Queryable,
  params: { number: string; issuerId?: string | undefined },
): Promise<CertificateWithIssuer[]> {
  // One form at a time, the typed one first: usually one query, and the first form that names a
  // certificate answers whatever the others match.
  for (const form of typedNumberForms(params.number)) {
    const conditions = [eq(certificates.number, form)];
    if (params.issuerId) conditions.push(eq(certificates.issuerId, params.issuerId));
    const rows = await db
      .select({ certificate: certificates, issuer: issuers })
      .from(certificates)
      .innerJoin(issuers, eq(issuers.id, certificates.issuerId))
      .where(and(...conditions))
      .limit(10);
    if (rows.length > 0) return rows;
  }
  return [];
}

export interface UpdateStatusParams {
  id: string;
  status: CertificateStatus;
  reason: string;
  signatory: SignatoryJson;
  at: Date;
  actorKeyId: string | null;
}

export async function updateCertificateStatus(db: Queryable, p: UpdateStatusParams): Promise<void> {
  await db
    .update(certificates)
    .set({ status: p.status, statusReason: p.reason, statusChangedAt: p.at })
    .where(eq(certificates.id, p.id));
  await db.insert(certificateStatusEvents).values({
    certificateId: p.id,
    status: p.status,
    reason: p.reason,
    signatory: p.signatory,
    actorKeyId: p.actorKeyId,
    at: p.at,
  });
}

/**
 * The certificate's row, locked for the rest of the transaction: for update (`change`, a status
 * change, so two changes cannot both leave a final state), or shared (`read`: what depends on its
 * status, as a mark batch ordered for it, waits for a change in flight and sees it).
 */
export async function lockCertificate(
  db: Queryable,
  id: string,
  purpose: 'change' | 'read' = 'change',
): Promise<CertificateRow | undefined> {
  await takeTurn(db, 'certificate', id, purpose);
  const [row] = await db
    .select()
    .from(certificates)
    .where(eq(certificates.id, id))
    .for(purpose === 'change' ? 'update' : 'share')
    .limit(1);
  return row;
}

export async function certificateStatusHistory(db: Queryable, certificateId: string) {
  return db
    .select()
    .from(certificateStatusEvents)
    .where(eq(certificateStatusEvents.certificateId, certificateId))
    .orderBy(asc(certificateStatusEvents.at), asc(certificateStatusEvents.id));
}

export interface SearchCertificatesParams {
  number?: string | undefined;
  uscc?: string | undefined;
  holder?: string | undefined;
  scheme?: string | undefined;
  issuerId?: string | undefined;
  /** Part of the issuer's name, or its accreditation number exactly. */
  issuerName?: string | undefined;
  limit: number;
  offset: number;
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

export async function searchCertificates(
  db: Queryable,
  p: SearchCertificatesParams,
): Promise<{ rows: CertificateWithIssuer[]; total: number }> {
  const conditions: SQL[] = [];
  // The number in any of the forms a person may type it in (typedNumberForms).
  if (p.number) conditions.push(inArray(certificates.number, typedNumberForms(p.number)));
  if (p.scheme) conditions.push(eq(certificates.scheme, p.scheme));
  if (p.issuerId) conditions.push(eq(certificates.issuerId, p.issuerId));
  if (p.issuerName) {
    conditions.push(
      or(
        ilike(issuers.name, `%${escapeLike(p.issuerName)}%`),
        eq(issuers.accreditationNo, p.issuerName),
      )!,
    );
  }
  if (p.holder) conditions.push(ilike(certificates.holderName, `%${escapeLike(p.holder)}%`));
  if (p.uscc) {
    conditions.push(
      or(
        eq(certificates.holderUscc, p.uscc),
        sql`${certificates.manufacturer}->>'uscc' = ${p.uscc}`,
        sql`${certificates.factories} @> ${JSON.stringify([{ uscc: p.uscc }])}::jsonb`,
      )!,
    );
  }
  const where = conditions.length ? and(...conditions) : undefined;
  const [rows, [total]] = await Promise.all([
    db
      .select({ certificate: certificates, issuer: issuers })
      .from(certificates)
      .innerJoin(issuers, eq(issuers.id, certificates.issuerId))
      .where(where)
      .orderBy(asc(certificates.number), asc(certificates.id))
      .limit(p.limit)
      .offset(p.offset),
    db
      .select({ n: count() })
      .from(certificates)
      .innerJoin(issuers, eq(issuers.id, certificates.issuerId))
      .where(where),
  ]);
  return { rows, total: total?.n ?? 0 };
}
