import { changeWithEntry, type AuditEntryInput } from '../audit/audit.queries';
import { clientQuery, type Queryable } from '../db/client';
import type { ApiKeyRow, Role } from '../db/schema/api-keys';

/** An API key as its changes return it: everything but the key's hash. */
export type ApiKeyRecord = Omit<ApiKeyRow, 'keyHash'>;

const RETURNED = `id, prefix, role, issuer_id AS "issuerId", label, created_at AS "createdAt",
  revoked_at AS "revokedAt", bootstrap`;

type KeyEntry = Omit<AuditEntryInput, 'subjectType' | 'subjectId'>;

/** Stores a new key and, in the same statement, its audit entry (subject: the new key's id). */
export async function insertApiKey(
  tx: Queryable,
  key: {
    keyHash: Uint8Array;
    prefix: string;
    role: Role;
    issuerId: string | null;
    label: string | null;
    createdAt: Date;
    /** Made at start (ADMIN_API_KEY): the key a new ADMIN_API_KEY replaces. */
    bootstrap: boolean;
  },
  entry: KeyEntry,
): Promise<ApiKeyRecord> {
  const row = await changeWithEntry<ApiKeyRecord>(
    tx,
    {
      name: 'api_key_insert',
      text: `INSERT INTO api_keys (key_hash, prefix, role, issuer_id, label, created_at, bootstrap)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${RETURNED}`,
      values: [
        key.keyHash,
        key.prefix,
        key.role,
        key.issuerId,
        key.label,
        key.createdAt,
        key.bootstrap,
      ],
    },
    key.createdAt,
    { ...entry, subjectType: 'api_key' },
  );
  return row!;
}

/**
 * Revokes a key that is still active and, in the same statement, records it. Undefined when
 * nothing changed: no such key, or one already revoked — of two revocations at once, the second
 * waits for the first's row lock, then finds the key revoked and records nothing.
 */
export async function revokeApiKey(
  tx: Queryable,
  id: string,
  at: Date,
  entry: KeyEntry,
): Promise<ApiKeyRecord | undefined> {
  return changeWithEntry<ApiKeyRecord>(
    tx,
    {
      name: 'api_key_revoke',
      text: `UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL
             RETURNING ${RETURNED}`,
      values: [id, at],
    },
    at,
    { ...entry, subjectType: 'api_key', subjectId: id },
  );
}

/**
 * Makes an existing key the active admin bootstrap key (its value is ADMIN_API_KEY again: revoked,
 * of another role, or made through the API) and, in the same statement, records it. Undefined when
 * nothing changed: no such key, or one that is that already.
 */
export async function reinstateAsBootstrapKey(
  tx: Queryable,
  id: string,
  at: Date,
  entry: KeyEntry,
): Promise<ApiKeyRecord | undefined> {
  return changeWithEntry<ApiKeyRecord>(
    tx,
    {
      name: 'api_key_reinstate_bootstrap',
      text: `UPDATE api_keys
             SET role = 'admin', issuer_id = NULL, revoked_at = NULL, bootstrap = true
             WHERE id = $1 AND (role <> 'admin' OR issuer_id IS NOT NULL
                                OR revoked_at IS NOT NULL OR NOT bootstrap)
             RETURNING ${RETURNED}`,
      values: [id],
    },
    at,
    { ...entry, subjectType: 'api_key', subjectId: id },
  );
}

/** The bootstrap keys still active but `keptId`, oldest first: the ones a new ADMIN_API_KEY ends. */
export async function activeBootstrapKeyIds(tx: Queryable, keptId: string): Promise<string[]> {
  const rows = await clientQuery<{ id: string }>(
    tx,
    undefined, // run once a start: no statement kept prepared on the connection
    `SELECT id FROM api_keys WHERE bootstrap AND revoked_at IS NULL AND id <> $1
     ORDER BY created_at, id`,
    [keptId],
  );
  return rows.map((row) => row.id);
}

/**
 * Serialises ensureAdminKey across instances starting at once (for the rest of `tx`): two starts
 * with one value would both insert it (one fails on the unique hash), and two with different
 * values would each revoke the bootstrap keys it sees and leave the other's new key active.
 */
export async function lockBootstrapKeys(tx: Queryable): Promise<void> {
  await clientQuery(
    tx,
    undefined,
    `SELECT pg_advisory_xact_lock(hashtextextended('certmark/api-key-bootstrap', 0))`,
    [],
  );
}
