import { desc, eq } from 'drizzle-orm';
import type { Database } from '../db/client';
import { apiKeys, type Role } from '../db/schema/api-keys';
import type { Clock } from '../clock';
import type { Actor } from '../auth/principal';
import { systemActor } from '../auth/principal';
import { apiKeyPrefix, generateApiKey, hashApiKey } from '../auth/api-key';
import { insertApiKey, revokeApiKey, type ApiKeyRecord } from './api-keys.queries';
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
      // The revocation and its entry are one statement that changes only an active key: of two
      // revocations at once, the second changes nothing (one revocation time, one audit entry).
      const revoked = await revokeApiKey(tx, id, at, { actor, action: 'api_key.revoke' });
      const [key] = revoked
        ? [revoked]
        : await tx.select().from(apiKeys).where(eq(apiKeys.id, id)).limit(1);
      if (!key) throw notFound('API key');
      // Again on a key revoked already: one revoked before this rule may still own subscriptions.
      const ended = await endSubscriptionsOfKey(tx, { apiKeyId: id, at });
      await appendAuditEntries(
        tx,
        at,
        ended.map((subscriptionId) => ({
          actor,
          action: 'subscription.delete',
          subjectType: 'subscription',
          subjectId: subscriptionId,
          change: { endedBy: 'api_key.revoke', apiKeyId: id },
        })),
      );
      return apiKeyView(key);
    });
  }

  /**
   * Makes sure an admin key with exactly this value exists and is active (ADMIN_API_KEY).
   * Returns true when it had to be created or reinstated.
   */
  async ensureAdminKey(key: string): Promise<boolean> {
    const at = this.clock.now();
    return this.db.transaction(async (tx) => {
      const hash = hashApiKey(key);
      const [existing] = await tx.select().from(apiKeys).where(eq(apiKeys.keyHash, hash)).limit(1);
      if (existing && existing.role === 'admin' && !existing.revokedAt) return false;
      if (existing) {
        await tx
          .update(apiKeys)
          .set({ role: 'admin', issuerId: null, revokedAt: null })
          .where(eq(apiKeys.id, existing.id));
      } else {
        await insertApiKey(
          tx,
          {
            keyHash: hash,
            prefix: apiKeyPrefix(key),
            role: 'admin',
            issuerId: null,
            label: 'bootstrap (ADMIN_API_KEY)',
            createdAt: at,
          },
          { actor: systemActor, action: 'api_key.bootstrap', change: { role: 'admin' } },
        );
      }
      return true;
    });
  }

  async hasActiveAdminKey(): Promise<boolean> {
    const rows = await this.db
      .select({ id: apiKeys.id, revokedAt: apiKeys.revokedAt })
      .from(apiKeys)
      .where(eq(apiKeys.role, 'admin'));
    return rows.some((r) => !r.revokedAt);
  }
}
