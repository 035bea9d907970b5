import { and, desc, eq, isNull } from 'drizzle-orm';
import type { Database, Transaction } from '../db/client';
import { apiKeys, type Role } from '../db/schema/api-keys';
import type { Clock } from '../clock';
import type { Actor } from '../auth/principal';
import { systemActor } from '../auth/principal';
import { apiKeyPrefix, generateApiKey, hashApiKey } from '../auth/api-key';
import {
  activeBootstrapKeyIds,
  insertApiKey,
  lockBootstrapKeys,
  reinstateAsBootstrapKey,
  revokeApiKey,
  type ApiKeyRecord,
} from './api-keys.queries';
import { findIssuer } from '../issuers/issuers.queries';
import { appendAuditEntries } from '../audit/audit.queries';
import { endSubscriptionsOfKey } from '../subscriptions/subscriptions.queries';
import { AppError, notFound, validationFailed } from '../errors';

export interface ApiKeyView {
  id: string;
  prefix: string;
  role: Role;
  issuerId: string | null;
  label: string | null;
  createdAt: string;
  revokedAt: string | null;
}

function apiKeyView(row: ApiKeyRecord): ApiKeyView {
  return {
    id: row.id,
    prefix: row.prefix,
    role: row.role,
    issuerId: row.issuerId,
    label: row.label,
    createdAt: row.createdAt.toISOString(),
    revokedAt: row.revokedAt?.toISOString() ?? null,
  };
}

/** API keys: random, shown once, stored hashed, revocable (SPEC "Who uses it"). */
export class ApiKeysService {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
  ) {}

  /** Creates a key; the returned `key` is the only time its value is ever seen. */
  async createKey(
    actor: Actor,
    input: { role: Role; issuerId?: string | undefined; label?: string | undefined },
  ): Promise<ApiKeyView & { key: string }> {
    if (input.role === 'issuer' && !input.issuerId) {
      throw validationFailed([{ path: 'issuerId', message: 'an issuer key must name its issuer' }]);
    }
    if (input.role !== 'issuer' && input.issuerId) {
      throw validationFailed([
        { path: 'issuerId', message: 'only issuer keys are bound to an issuer' },
      ]);
    }
    const at = this.clock.now();
    const key = generateApiKey();
    const row = await this.db.transaction(async (tx) => {
      if (input.issuerId && !(await findIssuer(tx, input.issuerId))) {
        throw new AppError('unprocessable', 'no such issuer', {
          errors: [{ path: 'issuerId', message: 'no such issuer' }],
        });
      }
      return insertApiKey(
        tx,
        {
          keyHash: hashApiKey(key),
          prefix: apiKeyPrefix(key),
          role: input.role,
          issuerId: input.issuerId ?? null,
          label: input.label ?? null,
          createdAt: at,
          bootstrap: false,
        },
        {
          actor,
          action: 'api_key.create',
          change: {
            role: input.role,
            issuerId: input.issuerId ?? null,
            label: input.label ?? null,
          },
        },
      );
    });
    return { ...apiKeyView(row), key };
  }

  async listKeys(): Promise<ApiKeyView[]> {
    const rows = await this.db.select().from(apiKeys).orderBy(desc(apiKeys.createdAt));
    return rows.map(apiKeyView);
  }

  /**
   * Revokes a key, and with it what the key alone was granted: its webhook subscriptions end (an
   * issuer's stay: they are the issuer's, managed by its other keys), their undelivered messages
   * are cancelled, and each ending is audited.
   */
  async revokeKey(actor: Actor, id: string): Promise<ApiKeyView> {
    const at = this.clock.now();
    return this.db.transaction(async (tx) => {
      const key = await this.revokeInTransaction(tx, id, at, { actor, action: 'api_key.revoke' });
      if (!key) throw notFound('API key');
      return apiKeyView(key);
    });
  }

  /**
   * {@link revokeKey} inside `tx`, its entry's actor and change given: the key as it now is, or
   * undefined when there is no such key.
   */
  private async revokeInTransaction(
    tx: Transaction,
    id: string,
    at: Date,
    entry: { actor: Actor; action: 'api_key.revoke'; change?: unknown },
  ): Promise<ApiKeyRecord | undefined> {
    // The revocation and its entry are one statement that changes only an active key: of two
    // revocations at once, the second changes nothing (one revocation time, one audit entry).
    const revoked = await revokeApiKey(tx, id, at, entry);
    const [key] = revoked
      ? [revoked]
      : await tx.select().from(apiKeys).where(eq(apiKeys.id, id)).limit(1);
    if (!key) return undefined;
    // Again on a key revoked already: one revoked before this rule may still own subscriptions.
    const ended = await endSubscriptionsOfKey(tx, { apiKeyId: id, at });
    await appendAuditEntries(
      tx,
      at,
      ended.map((subscriptionId) => ({
        actor: entry.actor,
        action: 'subscription.delete',
        subjectType: 'subscription',
        subjectId: subscriptionId,
        change: { endedBy: 'api_key.revoke', apiKeyId: id },
      })),
    );
    return key;
  }

  /**
   * Makes sure an admin key with exactly this value exists and is active (ADMIN_API_KEY), as the
   * bootstrap key. Returns true when it had to be created, reinstated or taken on, or when it
   * replaced another; a start with the value of the last start changes nothing and records nothing.
   *
   * A new value replaces the old one: every other bootstrap key still active is revoked as
   * {@link revokeKey} revokes (its own subscriptions end), in the same transaction. An operator
   * changes ADMIN_API_KEY because the old value leaked, or may have: left valid, it would be an
   * admin key nobody holds on purpose. Also when this key is in place already: a value changed
   * before this rule left the old key active. Keys made through the API are not bootstrap keys,
   * whatever their label, and stay.
   */
  async ensureAdminKey(
    key: string,
    options: {
      /**
       * Told after the commit when the value names a key that had been revoked (or had another
       * role) and is now an active admin key again: a configuration rolled back to a value that
       * was replaced, perhaps because it leaked. main.ts warns the operator.
       */
      onRevived?: (revived: { apiKeyId: string; revokedAt: Date | null }) => void;
    } = {},
  ): Promise<boolean> {
    const at = this.clock.now();
    const outcome = await this.db.transaction(async (tx) => {
      await lockBootstrapKeys(tx);
      const hash = hashApiKey(key);
      const [existing] = await tx.select().from(apiKeys).where(eq(apiKeys.keyHash, hash)).limit(1);
      let bootstrapKeyId: string;
      let changed: boolean;
      let revived: { apiKeyId: string; revokedAt: Date | null } | undefined;
      if (existing) {
        const inUse = existing.role === 'admin' && existing.revokedAt === null;
        const reinstated = await reinstateAsBootstrapKey(tx, existing.id, at, {
          actor: systemActor,
          action: 'api_key.bootstrap',
          // An active admin key made through the API whose value is now ADMIN_API_KEY is taken on
          // as the bootstrap key: nothing to reinstate, only the mark to record.
          change: inUse
            ? { role: 'admin', bootstrap: true }
            : { role: 'admin', reinstated: true, previousRole: existing.role },
        });
        bootstrapKeyId = existing.id;
        changed = reinstated !== undefined; // undefined: it is the active bootstrap key already
        if (changed && !inUse) revived = { apiKeyId: existing.id, revokedAt: existing.revokedAt };
      } else {
        bootstrapKeyId = await insertBootstrapKey(tx, key, at);
        changed = true;
      }
      for (const id of await activeBootstrapKeyIds(tx, bootstrapKeyId)) {
        await this.revokeInTransaction(tx, id, at, {
          actor: systemActor,
          action: 'api_key.revoke',
          change: { replacedBy: 'ADMIN_API_KEY', apiKeyId: bootstrapKeyId },
        });
        changed = true;
      }
      return { changed, revived };
    });
    if (outcome.revived) options.onRevived?.(outcome.revived);
    return outcome.changed;
  }

  /**
   * A first start without ADMIN_API_KEY: when no admin key is active, makes one (a bootstrap key,
   * which a later ADMIN_API_KEY replaces) and returns its value, to be shown once; otherwise
   * undefined. Decided under the bootstrap lock and revoking nothing: two instances starting at
   * once on a new database make one key between them, and one started beside an instance with
   * ADMIN_API_KEY never ends that instance's key.
   */
  async createFirstAdminKey(): Promise<string | undefined> {
    const at = this.clock.now();
    return this.db.transaction(async (tx) => {
      await lockBootstrapKeys(tx);
      const [active] = await tx
        .select({ id: apiKeys.id })
        .from(apiKeys)
        .where(and(eq(apiKeys.role, 'admin'), isNull(apiKeys.revokedAt)))
        .limit(1);
      if (active) return undefined;
      const key = generateApiKey();
      await insertBootstrapKey(tx, key, at);
      return key;
    });
  }
}

/** Records `key` as a new active bootstrap admin key, with its audit entry; returns its id. */
async function insertBootstrapKey(tx: Transaction, key: string, at: Date): Promise<string> {
  const created = await insertApiKey(
    tx,
    {
      keyHash: hashApiKey(key),
      prefix: apiKeyPrefix(key),
      role: 'admin',
      issuerId: null,
      label: 'bootstrap (ADMIN_API_KEY)',
      createdAt: at,
      bootstrap: true,
    },
    { actor: systemActor, action: 'api_key.bootstrap', change: { role: 'admin' } },
  );
  return created.id;
}
