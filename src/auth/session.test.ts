import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deriveSessionSecret, signSession, verifySession } from './session';

describe('page sessions', () => {
  const secret = deriveSessionSecret(new Uint8Array(randomBytes(32)));
  const keyId = '3f2b8a1e-1c2d-4e5f-8a9b-0c1d2e3f4a5b';
  const now = new Date('2026-11-24T10:00:00Z');
  const expiresAt = now.getTime() / 1000 + 3600;

  it('verifies its own token until it expires', () => {
    const token = signSession(secret, { keyId, expiresAt });
    expect(verifySession(secret, token, now)).toEqual({ keyId, expiresAt });
    expect(verifySession(secret, token, new Date(expiresAt * 1000))).toBeNull();
  });

  it('refuses another secret, a changed key id or expiry, and garbage', () => {
    const token = signSession(secret, { keyId, expiresAt });
    expect(
      verifySession(deriveSessionSecret(new Uint8Array(randomBytes(32))), token, now),
    ).toBeNull();
    expect(
      verifySession(secret, token.replace(keyId, '3f2b8a1e-1c2d-4e5f-8a9b-0c1d2e3f4a5c'), now),
    ).toBeNull();
    expect(
      verifySession(secret, token.replace(String(expiresAt), String(expiresAt + 99999)), now),
    ).toBeNull();
    for (const bad of ['', 'cm_abc', `${keyId}.${expiresAt}`, `${token}x`])
      expect(verifySession(secret, bad, now)).toBeNull();
  });
});
