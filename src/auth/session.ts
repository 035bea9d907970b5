import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Tokens of the server-rendered pages' browser sessions and of their forms. A session cookie holds
 * only a session's id with an HMAC-SHA256 tag: the API key itself never sits in a cookie or a URL,
 * and a made-up cookie is refused before the database is asked. The session itself is a record
 * (see ./page-sessions), so signing out ends it on the server.
 */

/** A session key derived from the key-encryption key: nothing more to configure or store. */
export function deriveSessionSecret(kek: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', kek, new Uint8Array(0), 'certmark/page-session/v1', 32));
}

/** Domain-separated tags, so a session token never passes for a form token or the reverse. */
const tag = (secret: Uint8Array, purpose: 'session' | 'form', value: string) =>
  createHmac('sha256', secret).update(`${purpose}\0${value}`).digest('base64url');

const sameText = (a: string, b: string) =>
  a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/** The cookie value naming session `sessionId`. */
export function sessionToken(secret: Uint8Array, sessionId: string): string {
  return `${sessionId}.${tag(secret, 'session', sessionId)}`;
}

/** The session id a genuine token names; null for anything else. */
export function sessionIdOf(secret: Uint8Array, token: string): string | null {
  const match = /^([0-9a-f-]{36})\.([A-Za-z0-9_-]{43})$/.exec(token);
  if (!match) return null;
  const [, sessionId, mac] = match as unknown as [string, string, string];
  return sameText(mac, tag(secret, 'session', sessionId)) ? sessionId : null;
}

/**
 * Signed double-submit form tokens (OWASP CSRF cheat sheet): the browser holds a random nonce in a
 * SameSite=Strict cookie and each form carries HMAC(nonce). A cross-site form POST arrives without
 * the cookie, or with a field the attacker cannot compute for it: login CSRF and sign-out CSRF
 * both fail.
 */
export function newFormNonce(): string {
  return randomBytes(32).toString('base64url');
}

/** The hidden field value that goes with the cookie nonce. */
export function formToken(secret: Uint8Array, nonce: string): string {
  return tag(secret, 'form', nonce);
}

/** Whether `field` is the form token of the cookie's `nonce`. */
export function isFormToken(
  secret: Uint8Array,
  nonce: string | undefined,
  field: unknown,
): boolean {
  if (!nonce || typeof field !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(nonce)) return false;
  return sameText(field, formToken(secret, nonce));
}
