import { randomBytes, randomUUID } from 'node:crypto';
import type { Principal } from '../auth/principal';
import { actorOf } from '../auth/principal';
import { appendAuditEntry } from '../audit/audit.queries';
import type { Clock } from '../clock';
import { unwrapKey, wrapKey } from '../crypto/keywrap';
import type { Database } from '../db/client';
import type {
  DeliveryState,
  SubscriptionRow,
  WebhookDeliveryAttemptRow,
  WebhookDeliveryRow,
  WebhookEventType,
} from '../db/schema/subscriptions';
import { AppError, forbidden, notFound, validationFailed } from '../errors';
import { isUuid } from '../shared/identifiers';
import { eventsByRole } from './outbox';
import * as q from './subscriptions.queries';
import { checkTargetAddresses, checkTargetUrl, TargetRefused } from './webhook-target';

export interface SubscriptionView {
  id: string;
  url: string;
  events: WebhookEventType[];
  filter: { certificates: string[] } | null;
  /** The certificates the filter resolved to when the subscription was made. */
  certificateIds: string[] | null;
  createdAt: string;
  deletedAt: string | null;
}

export interface DeliveryView {
  id: string;
  eventId: string;
  eventType: WebhookEventType;
  state: DeliveryState;
  attempts: number;
  createdAt: string;
  lastAttemptAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
  deliveredAt: string | null;
  nextAttemptAt: string | null;
  payload: Record<string, unknown>;
  recentAttempts: {
    at: string;
    durationMs: number;
    status: number | null;
    error: string | null;
  }[];
}

/** Attempts shown with each delivery, newest first. */
const ATTEMPTS_SHOWN = 20;

function subscriptionView(row: SubscriptionRow): SubscriptionView {
  return {
    id: row.id,
    url: row.url,
    events: row.events as WebhookEventType[],
    filter: row.filter ?? null,
    certificateIds: row.certificateIds ?? null,
    createdAt: row.createdAt.toISOString(),
    deletedAt: row.deletedAt?.toISOString() ?? null,
  };
}

function deliveryView(
  row: WebhookDeliveryRow,
  attempts: WebhookDeliveryAttemptRow[],
  queuedAttemptAt: Date | undefined,
): DeliveryView {
  return {
    id: row.id,
    eventId: row.eventId,
    eventType: row.eventType,
    state: row.state,
    attempts: row.attempts,
    createdAt: row.createdAt.toISOString(),
    lastAttemptAt: row.lastAttemptAt?.toISOString() ?? null,
    lastStatus: row.lastStatus,
    lastError: row.lastError,
    deliveredAt: row.deliveredAt?.toISOString() ?? null,
    nextAttemptAt: (queuedAttemptAt ?? row.nextAttemptAt)?.toISOString() ?? null,
    payload: row.payload,
    recentAttempts: attempts.map((a) => ({
      at: a.at.toISOString(),
      durationMs: a.durationMs,
      status: a.status,
      error: a.error,
    })),
  };
}

/** The associated data binding a wrapped secret to its subscription (a copied row fails). */
const secretAad = (subscriptionId: string) => `webhook-secret:${subscriptionId}`;

/** Standard Webhooks secrets: `whsec_` + base64 of 32 random bytes (256-bit HMAC-SHA256 key). */
function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

export function unwrapSecret(kek: Uint8Array, subscriptionId: string, wrapped: Uint8Array): string {
  return Buffer.from(unwrapKey(kek, wrapped, secretAad(subscriptionId))).toString('utf8');
}

export interface CreateSubscriptionInput {
  url: string;
  events: WebhookEventType[];
  filter?: { certificates: string[] } | undefined;
}

/**
 * Webhook subscriptions (issue 13): who may follow what follows the API key's role (see
 * `eventsByRole`); the signing secret is shown once, at creation, and kept wrapped.
 */
export class SubscriptionsService {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly kek: Uint8Array,
    private readonly production: boolean,
  ) {}

  async createSubscription(
    principal: Principal,
    input: CreateSubscriptionInput,
  ): Promise<SubscriptionView & { secret: string }> {
    const allowed = eventsByRole[principal.role] ?? [];
    const refused = input.events.filter((e) => !allowed.includes(e));
    if (refused.length > 0) {
      const key = `${/^[aeiou]/.test(principal.role) ? 'an' : 'a'} ${principal.role} key`;
      throw forbidden(
        allowed.length === 0
          ? `${key} may not subscribe to events`
          : `${key} may not subscribe to ${refused.join(', ')}`,
      );
    }
    if (principal.role === 'subscriber' && !input.filter) {
      throw validationFailed([
        { path: 'filter', message: 'a subscriber key must name the certificates it follows' },
      ]);
    }
    const url = await this.checkUrl(input.url);
    const certificateIds = input.filter
      ? await this.resolveFilter(principal, input.filter.certificates)
      : null;
    const at = this.clock.now();
    const id = randomUUID();
    const secret = newSecret();
    const row = await this.db.transaction(async (tx) => {
      const inserted = await q.insertSubscription(tx, {
        id,
        apiKeyId: principal.keyId,
        role: principal.role,
        issuerId: principal.role === 'issuer' ? principal.issuerId : null,
        url: url.href,
        events: [...new Set(input.events)],
        certificateIds,
        filter: input.filter ?? null,
        secretWrapped: wrapKey(this.kek, Buffer.from(secret, 'utf8'), secretAad(id)),
        createdAt: at,
      });
      await appendAuditEntry(tx, at, {
        actor: actorOf(principal),
        action: 'subscription.create',
        subjectType: 'subscription',
        subjectId: id,
        change: {
          url: url.origin,
          events: inserted.events,
          certificates: certificateIds?.length ?? null,
        },
      });
      return inserted;
    });
    return { ...subscriptionView(row), secret };
  }

  async listSubscriptions(principal: Principal): Promise<SubscriptionView[]> {
    const rows = await q.listSubscriptions(this.db, {
      apiKeyId: principal.keyId,
      issuerId: principal.role === 'issuer' ? principal.issuerId : null,
    });
    return rows.map(subscriptionView);
  }

  async deleteSubscription(principal: Principal, id: string): Promise<SubscriptionView> {
    const at = this.clock.now();
    return this.db.transaction(async (tx) => {
      const existing = await q.findSubscription(tx, id);
      if (!existing || !ownedBy(existing, principal) || existing.deletedAt) {
        throw notFound('subscription');
      }
      const row = await q.deleteSubscription(tx, { id, at });
      if (!row) throw notFound('subscription');
      await appendAuditEntry(tx, at, {
        actor: actorOf(principal),
        action: 'subscription.delete',
        subjectType: 'subscription',
        subjectId: id,
      });
      return subscriptionView(row);
    });
  }

  /** The delivery log of one of the caller's subscriptions, newest first. */
  async listDeliveries(
    principal: Principal,
    id: string,
    query: { state?: DeliveryState | undefined; page: number; pageSize: number },
  ) {
    const subscription = await q.findSubscription(this.db, id);
    if (!subscription || !ownedBy(subscription, principal)) throw notFound('subscription');
    const { rows, total } = await q.listDeliveries(this.db, { subscriptionId: id, ...query });
    const attempts = await q.attemptsOf(
      this.db,
      rows.map((r) => r.id),
      ATTEMPTS_SHOWN,
    );
    // A delivery handed to the job queue (PostgreSQL) is scheduled there, not on its row.
    const queued = await q.queuedAttemptTimes(
      this.db,
      rows.filter((r) => r.state === 'pending' && r.queuedAt !== null).map((r) => r.id),
    );
    return {
      items: rows.map((r) =>
        deliveryView(
          r,
          attempts.filter((a) => a.deliveryId === r.id),
          queued.get(r.id),
        ),
      ),
      page: query.page,
      pageSize: query.pageSize,
      total,
    };
  }

  private async checkUrl(raw: string): Promise<URL> {
    try {
      const url = checkTargetUrl(raw, { production: this.production });
      await checkTargetAddresses(url, { production: this.production });
      return url;
    } catch (error) {
      if (!(error instanceof TargetRefused)) throw error;
      throw new AppError('webhook_url_refused', `the webhook URL ${error.message}`, {
        errors: [{ path: 'url', message: error.message }],
      });
    }
  }

  /**
   * The filter's certificates, by id or number. An issuer may name only its own; a number that
   * several issuers use is ambiguous (name the certificate by id).
   */
  private async resolveFilter(principal: Principal, named: string[]): Promise<string[]> {
    const ids = named.filter(isUuid);
    const numbers = named.filter((n) => !isUuid(n));
    const found = await q.certificatesNamed(this.db, {
      ids,
      numbers,
      issuerId: principal.role === 'issuer' ? principal.issuerId : null,
    });
    const resolved = new Set<string>();
    const errors: { path: string; message: string }[] = [];
    named.forEach((name, index) => {
      const matches = found.filter((c) => c.id === name || c.number === name);
      if (matches.length === 0) {
        errors.push({ path: `filter.certificates.${index}`, message: 'no such certificate' });
      } else if (matches.length > 1 && !isUuid(name)) {
        throw new AppError(
          'ambiguous_number',
          `certificate number ${name} is used by several issuers: name the certificate by its id`,
          { issuers: matches.map((m) => ({ id: m.issuerId, name: m.issuerName })) },
        );
      } else {
        resolved.add(matches[0]!.id);
      }
    });
    if (errors.length > 0) {
      throw new AppError('unprocessable', 'the filter names certificates that do not exist', {
        errors,
      });
    }
    return [...resolved];
  }
}

/** A subscription belongs to the key that made it, and an issuer's to every key of that issuer. */
function ownedBy(subscription: SubscriptionRow, principal: Principal): boolean {
  if (subscription.apiKeyId === principal.keyId) return true;
  return (
    principal.role === 'issuer' &&
    subscription.role === 'issuer' &&
    subscription.issuerId !== null &&
    subscription.issuerId === principal.issuerId
  );
}
