import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  deriveSessionSecret,
  formToken,
  isFormToken,
  newFormNonce,
  sessionIdOf,
  sessionToken,
} from './session';

describe('page session and form tokens', () => {
  const secret = deriveSessionSecret(new Uint8Array(randomBytes(32)));
  const otherSecret = deriveSessionSecret(new Uint8Array(randomBytes(32)));
  const sessionId = '3f2b8a1e-1c2d-4e5f-8a9b-0c1d2e3f4a5b';

  it('reads its own session token back, and nothing else', () => {
    const token = sessionToken(secret, sessionId);
    expect(sessionIdOf(secret, token)).toBe(sessionId);
    expect(sessionIdOf(otherSecret, token)).toBeNull();
    expect(
      sessionIdOf(secret, token.replace(sessionId, '3f2b8a1e-1c2d-4e5f-8a9b-0c1d2e3f4a5c')),
    ).toBeNull();
    for (const bad of ['', 'cm_abc', sessionId, `${token}x`, `${sessionId}.${'A'.repeat(43)}`])
      expect(sessionIdOf(secret, bad)).toBeNull();
  });

  it('a form token holds only for the nonce and secret it was made with', () => {
    const nonce = newFormNonce();
    const field = formToken(secret, nonce);
    expect(isFormToken(secret, nonce, field)).toBe(true);
    expect(isFormToken(secret, newFormNonce(), field)).toBe(false);
    expect(isFormToken(otherSecret, nonce, field)).toBe(false);
    expect(isFormToken(secret, undefined, field)).toBe(false);
    expect(isFormToken(secret, nonce, undefined)).toBe(false);
    expect(isFormToken(secret, nonce, nonce)).toBe(false);
    // A session tag never passes for a form tag (domain separation).
    expect(isFormToken(secret, nonce, sessionToken(secret, nonce).split('.')[1])).toBe(false);
  });
});
