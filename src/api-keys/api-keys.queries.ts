import { changeWithEntry, type AuditEntryInput } from '../audit/audit.queries';
import type { Queryable } from '../db/client';
import type { ApiKeyRow, Role } from '../db/schema/api-keys';

/** An API key as its changes return it: everything but the key's hash. */
export type ApiKeyRecord = Omit<ApiKeyRow, 'keyHash'>;

const RETURNED = `id, prefix, role, issuer_id AS "issuerId", label, created_at AS "createdAt",
  revoked_at AS "revokedAt"`;

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
  },
  entry: KeyEntry,
): Promise<ApiKeyRecord> {
  const row = await changeWithEntry<ApiKeyRecord>(
    tx,
    {
      name: 'api_key_insert',
      text: `INSERT INTO api_keys (key_hash, prefix, role, issuer_id, label, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${RETURNED}`,
      values: [key.keyHash, key.prefix, key.role, key.issuerId, key.label, key.createdAt],
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
