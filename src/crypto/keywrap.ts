import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM key wrapping for private signing keys at rest. The associated data binds a wrapped
 * seed to its owner and kid, so a wrapped key copied onto another row fails to unwrap.
 * Layout: 12-byte nonce || ciphertext || 16-byte tag.
 */
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export class KeyWrapError extends Error {
  override readonly name = 'KeyWrapError';
}

function checkKek(kek: Uint8Array): Uint8Array {
  if (kek.length !== 32) throw new KeyWrapError('key-encryption key must be 32 bytes');
  return kek;
}

export function wrapKey(
  kek: Uint8Array,
  plaintext: Uint8Array,
  associatedData: string,
): Uint8Array {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', checkKek(kek), nonce);
  cipher.setAAD(Buffer.from(associatedData, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return new Uint8Array(Buffer.concat([nonce, body, cipher.getAuthTag()]));
}

export function unwrapKey(
  kek: Uint8Array,
  wrapped: Uint8Array,
  associatedData: string,
): Uint8Array {
  if (wrapped.length < NONCE_BYTES + TAG_BYTES + 1) throw new KeyWrapError('wrapped key too short');
  const nonce = wrapped.subarray(0, NONCE_BYTES);
  const tag = wrapped.subarray(wrapped.length - TAG_BYTES);
  const body = wrapped.subarray(NONCE_BYTES, wrapped.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', checkKek(kek), nonce);
  decipher.setAAD(Buffer.from(associatedData, 'utf8'));
  decipher.setAuthTag(tag);
  try {
    return new Uint8Array(Buffer.concat([decipher.update(body), decipher.final()]));
  } catch {
    throw new KeyWrapError('wrapped key does not authenticate under this key-encryption key');
  }
}
