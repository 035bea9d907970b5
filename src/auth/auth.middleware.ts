import { eq, type SQL } from 'drizzle-orm';
import { createMiddleware } from 'hono/factory';
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
 * header stays anonymous; a header with an unknown or revoked key is refused at once (401), so a
 * client never mistakes a dead key for public access.
 *
 * @example app.use('*', authenticate({ db }))
 */
export function authenticate(options: { db: Database }) {
  return createMiddleware<AppEnv>(async function authenticateRequest(c, next) {
    const header = c.req.header('authorization');
    c.set('principal', null);
    if (header !== undefined) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (!match?.[1])
        throw new AppError('unauthorized', 'Authorization must be "Bearer <api key>"');
      const principal = await findPrincipalByKey(options.db, match[1]);
      if (!principal) throw new AppError('unauthorized', 'unknown or revoked API key');
      c.set('principal', principal);
    }
    await next();
  });
}

/**
 * Lets the request through only for a principal with one of `roles`: no key → 401, another role → 403.
 *
 * @example defineRoute({ ..., middleware: [requireRole('admin')] })
 */
export function requireRole(...roles: Role[]) {
  return createMiddleware<AppEnv>(async function requireRoleOf(c, next) {
    const principal = c.get('principal');
    if (!principal) throw new AppError('unauthorized', 'this endpoint needs an API key');
    if (!roles.includes(principal.role)) {
      throw new AppError('forbidden', `this endpoint is for ${roles.join(' or ')} keys`);
    }
    await next();
  });
}

/** The authenticated principal; only valid behind requireRole. */
export function principalOf(c: { get(key: 'principal'): Principal | null }): Principal {
  const principal = c.get('principal');
  if (!principal) throw new AppError('unauthorized', 'this endpoint needs an API key');
  return principal;
}
