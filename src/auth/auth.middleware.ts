import { eq, type SQL } from 'drizzle-orm';
import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { RateLimiter } from '../http/middleware';
import type { Database } from '../db/client';
import { apiKeys, type Role } from '../db/schema/api-keys';
import { AppError } from '../errors';
import type { AppEnv } from '../http/env';
import { hashApiKey } from './api-key';
import type { Principal } from './principal';

async function findActivePrincipal(db: Database, where: SQL): Promise<Principal | null> {
  const [row] = await db
    .select({
      id: apiKeys.id,
      role: apiKeys.role,
      issuerId: apiKeys.issuerId,
      revokedAt: apiKeys.revokedAt,
    })
    .from(apiKeys)
    .where(where)
    .limit(1);
  if (!row || row.revokedAt) return null;
  return { keyId: row.id, role: row.role, issuerId: row.issuerId };
}

/** The principal of an API key by its value, if the key is still active. */
export function findPrincipalByKey(db: Database, key: string): Promise<Principal | null> {
  return findActivePrincipal(db, eq(apiKeys.keyHash, hashApiKey(key)));
}

/** The principal of an API key by its id, if the key is still active. */
export function findPrincipalById(db: Database, id: string): Promise<Principal | null> {
  return findActivePrincipal(db, eq(apiKeys.id, id));
}

/**
 * Resolves `Authorization: Bearer <key>` into the request's principal. A request without the
 * header is anonymous; so is one whose header is malformed or names an unknown or revoked key
 * (SPEC: "an invalid key counts like an anonymous request"): a public operation answers it as it
 * answers anyone, within the public limit, and an operation that needs a key refuses it with 401
 * saying why (requireRole).
 *
 * With a `limiter`, once the client's address has used up its window, a key this instance has not
 * recently seen valid gets as many look-ups again and then none (it is taken as not valid without
 * asking the database: junk keys cost at most 2× the limit). A key seen valid is always looked up
 * (and its revocation honoured), so keyed callers behind a busy shared address keep working.
 *
 * @example app.use('*', authenticate({ db, limiter, clientAddress }))
 */
export function authenticate(options: {
  db: Database;
  limiter?: RateLimiter;
  clientAddress?: (c: Context<AppEnv>) => string;
  /** Valid key hashes remembered, so a throttled address does not shut out a keyed caller. */
  maxRememberedKeys?: number;
  /** Requests that read no key (anonymous whatever they send). */
  exempt?: (c: Context<AppEnv>) => boolean;
}) {
  const remembered = new Set<string>();
  const maxRemembered = options.maxRememberedKeys ?? 10_000;
  return createMiddleware<AppEnv>(async function authenticateRequest(c, next) {
    const header = c.req.header('authorization');
    c.set('principal', null);
    if (header === undefined || options.exempt?.(c)) return next();
    const anonymous = (why: string) => {
      c.set('refusedKey', why);
      return next();
    };
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1]) return anonymous('Authorization must be "Bearer <api key>"');
    const limiter = options.limiter?.enabled ? options.limiter : undefined;
    const keyHash = Buffer.from(hashApiKey(match[1])).toString('base64');
    // An address past its window still gets as many key look-ups again (a keyed caller new to
    // this instance behind a busy address), then none.
    if (limiter && !remembered.has(keyHash)) {
      const client = options.clientAddress!(c);
      if (limiter.exhausted(client) && !limiter.hit(`${client} keyed`).allowed) {
        return anonymous('unknown or revoked API key');
      }
    }
    const principal = await findPrincipalByKey(options.db, match[1]);
    if (!principal) return anonymous('unknown or revoked API key');
    if (remembered.size >= maxRemembered) remembered.clear();
    remembered.add(keyHash);
    c.set('principal', principal);
    await next();
  });
}

/** The 401 of a request without a valid key: why its key was not taken, if it sent one. */
function needsKey(c: { get(key: 'refusedKey'): string | undefined }): AppError {
  return new AppError('unauthorized', c.get('refusedKey') ?? 'this endpoint needs an API key');
}

/**
 * Lets the request through only for a principal with one of `roles`: no key → 401, another role → 403.
 *
 * @example defineRoute({ ..., middleware: [requireRole('admin')] })
 */
export function requireRole(...roles: Role[]) {
  return createMiddleware<AppEnv>(async function requireRoleOf(c, next) {
    const principal = c.get('principal');
    if (!principal) throw needsKey(c);
    if (!roles.includes(principal.role)) {
      throw new AppError('forbidden', `this endpoint is for ${roles.join(' or ')} keys`);
    }
    await next();
  });
}

/** The authenticated principal; only valid behind requireRole. */
export function principalOf(c: {
  get(key: 'principal'): Principal | null;
  get(key: 'refusedKey'): string | undefined;
}): Principal {
  const principal = c.get('principal');
  if (!principal) throw needsKey(c);
  return principal;
}
