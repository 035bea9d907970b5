import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock';
import type { Database } from '../db/client';
import type { Principal } from './principal';
import {
  endPageSession,
  findOpenSessionPrincipal,
  insertPageSession,
} from './page-sessions.queries';
import { sessionIdOf, sessionToken } from './session';

/**
 * Signed-in browser sessions of the server-rendered pages. Each is a database record, so signing
 * out ends it everywhere at once (every instance asks the record), and so does revoking its key;
 * the cookie holds the record's id with an HMAC tag, never the key.
 *
 * @example
 * const { token } = await sessions.start(principal, 8 * 3600);  // set as an HttpOnly cookie
 * const principal = await sessions.principalOf(token);          // null once ended or expired
 * await sessions.end(token);                                   // sign-out
 */
export class PageSessions {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly secret: Uint8Array,
  ) {}

  /** Opens a new session for `principal`: always a fresh id, so a planted one is never reused. */
  async start(
    principal: Principal,
    lifetimeSeconds: number,
  ): Promise<{ token: string; expiresAt: Date }> {
    const createdAt = this.clock.now();
    const expiresAt = new Date(createdAt.getTime() + lifetimeSeconds * 1000);
    const id = randomUUID();
    await insertPageSession(this.db, { id, keyId: principal.keyId, createdAt, expiresAt });
    return { token: sessionToken(this.secret, id), expiresAt };
  }

  /** Who an open session belongs to; null for a forged, ended, expired or revoked-key session. */
  async principalOf(token: string): Promise<Principal | null> {
    const id = sessionIdOf(this.secret, token);
    if (!id) return null;
    return findOpenSessionPrincipal(this.db, { id, now: this.clock.now() });
  }

  /** Signs out: the session stops opening anything, whoever still holds its cookie. */
  async end(token: string): Promise<void> {
    const id = sessionIdOf(this.secret, token);
    if (id) await endPageSession(this.db, { id, at: this.clock.now() });
  }
}
