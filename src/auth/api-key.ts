import { createHash, randomBytes } from 'node:crypto';

/** `cm_` + 32 random bytes (256 bits) in base64url: far above the SPEC's 128-bit floor. */
const KEY_PREFIX = 'cm_';
const KEY_BYTES = 32;

export function generateApiKey(): string {
  return KEY_PREFIX + randomBytes(KEY_BYTES).toString('base64url');
}

/**
 * Keys are high-entropy random strings, so a plain SHA-256 is a sufficient one-way hash (a slow
 * password hash protects low-entropy secrets; it would only slow every request here).
 */
export function hashApiKey(key: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(key, 'utf8').digest());
}

/**
 * The part of a key safe to show in listings: a generated key's first ten characters (`cm_` and
 * 42 of its 256 random bits); nothing of a key an operator chose (`ADMIN_API_KEY`), whose value may
 * have little entropy.
 */
export function apiKeyPrefix(key: string): string {
  return key.startsWith(KEY_PREFIX) ? key.slice(0, 10) : '(operator-set)';
}
