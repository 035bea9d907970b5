import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/**
 * Browser sessions for the server-rendered pages: a cookie that names an API key by its id and
 * carries an expiry, authenticated with HMAC-SHA256. The API key itself never sits in a cookie or
 * a URL; revoking the key ends the session at once (the key is looked up on every request).
 */
export interface SessionClaims {
  keyId: string;
  expiresAt: number; // seconds since the epoch
}

/** A session key derived from the key-encryption key: nothing more to configure or store. */
export function deriveSessionSecret(kek: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', kek, new Uint8Array(0), 'certmark/page-session/v1', 32));
}

const mac = (secret: Uint8Array, body: string) =>
  createHmac('sha256', secret).update(body).digest('base64url');

export function signSession(secret: Uint8Array, claims: SessionClaims): string {
  const body = `${claims.keyId}.${claims.expiresAt}`;
  return `${body}.${mac(secret, body)}`;
}

/** The claims of a genuine, unexpired session token; null for anything else. */
export function verifySession(secret: Uint8Array, token: string, now: Date): SessionClaims | null {
  const match = /^([0-9a-f-]{36})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(token);
  if (!match) return null;
  const [, keyId, expires, tag] = match as unknown as [string, string, string, string];
  const expected = Buffer.from(mac(secret, `${keyId}.${expires}`));
  if (!timingSafeEqual(expected, Buffer.from(tag))) return null;
  const expiresAt = Number(expires);
  if (expiresAt * 1000 <= now.getTime()) return null;
  return { keyId, expiresAt };
}
