import type { Queryable } from '../db/client';
import type { SigningKeyRow } from '../db/schema/signing-keys';
import type { MarkKeyCandidate } from './mark-signature';
import { listMarkKeys } from './mark-verification.queries';

export interface MarkKey extends MarkKeyCandidate {
  readonly issuerId: string;
  readonly status: SigningKeyRow['status'];
}

export interface MarkKeyRingOptions {
  /** Older than this, the ring reloads in the background while it keeps answering. */
  readonly refreshAfterMs?: number;
  /** Older than this, a lookup waits for the reload: the bound on how stale a key status can be. */
  readonly maxAgeMs?: number;
  readonly now?: () => number;
}

/**
 * The published signing keys by 3-byte mark key id, so a scan picks its candidate keys without a
 * database round trip. Public keys never change for a kid, but a key's status does: a key marked
 * compromised must stop verifying marks within a second or two on every instance, so the whole
 * ring is reloaded (one small query) once it is `refreshAfterMs` old, and never used once it is
 * `maxAgeMs` old. The scan query re-checks the status of the batch's key besides. A key id the ring
 * does not know is looked up directly, so a key created a moment ago verifies at once.
 */
export class MarkKeyRing {
  private byMarkKeyId = new Map<string, MarkKey[]>();
  private compromisedByMarkKeyId = new Map<string, MarkKey[]>();
  private loadedAt = Number.NEGATIVE_INFINITY;
  private loading: Promise<void> | undefined;
  private readonly refreshAfterMs: number;
  private readonly maxAgeMs: number;
  private readonly now: () => number;

  constructor(
    private readonly db: Queryable,
    options: MarkKeyRingOptions = {},
  ) {
    this.refreshAfterMs = options.refreshAfterMs ?? 1_000;
    this.maxAgeMs = options.maxAgeMs ?? 2_000;
    this.now = options.now ?? (() => performance.now());
  }

  /** Published (not compromised) keys whose mark key id is `keyId`. */
  async candidates(keyId: Uint8Array): Promise<MarkKey[]> {
    const age = this.now() - this.loadedAt;
    if (age > this.refreshAfterMs) {
      const reload = this.reload();
      if (age > this.maxAgeMs) await reload;
      else reload.catch(() => {});
    }
    const hex = Buffer.from(keyId).toString('hex');
    const known = this.byMarkKeyId.get(hex);
    if (known) return known;
    // A key created since the last reload (a new issuer, a rotation, on any instance) must verify
    // at once: ask the database about this key id alone. Unknown ids cost one indexed lookup.
    const rows = await listMarkKeys(this.db, hex);
    return rows.filter((row) => row.status !== 'compromised');
  }

  /**
   * Keys withdrawn as compromised whose mark key id is `keyId`, as of the last reload (asked after
   * {@link candidates}, which keeps the ring fresh): their signatures prove nothing of a mark, but
   * tell supervisors whose leaked key is in use.
   */
  compromised(keyId: Uint8Array): MarkKey[] {
    return this.compromisedByMarkKeyId.get(Buffer.from(keyId).toString('hex')) ?? [];
  }

  /** Forgets everything: the next lookup reloads (after a key is rotated or compromised here). */
  invalidate(): void {
    this.loadedAt = Number.NEGATIVE_INFINITY;
  }

  private reload(): Promise<void> {
    this.loading ??= (async () => {
      const startedAt = this.now();
      try {
        const rows = await listMarkKeys(this.db);
        const published = new Map<string, MarkKey[]>();
        const compromised = new Map<string, MarkKey[]>();
        for (const row of rows) {
          const byId = row.status === 'compromised' ? compromised : published;
          byId.set(row.markKeyId, [...(byId.get(row.markKeyId) ?? []), row]);
        }
        this.byMarkKeyId = published;
        this.compromisedByMarkKeyId = compromised;
        this.loadedAt = startedAt;
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }
}
