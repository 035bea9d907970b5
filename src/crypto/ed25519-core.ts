import * as noble from '@noble/ed25519';
import { base64urlnopad } from '@scure/base';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { CryptoError } from './errors';

/**
 * The browser-safe half of certmark's Ed25519 (RFC 8032): the public-key acceptance rule, the
 * offline verifier, JWK (RFC 8037) and thumbprint (RFC 7638), kids and mark key ids. Pure
 * JavaScript (`@noble/ed25519`, `@noble/hashes`, `@scure/base`): no `node:` import and no
 * `Buffer`, so a browser bundle can verify marks offline with the JWKS alone. `./ed25519` adds
 * the Node-only parts (OpenSSL signing and the online verifier) and re-exports everything here.
 *
 * One strict rule everywhere (SPEC "Product marks"): a signature verifies exactly when
 * `@noble/ed25519` `verify(sig, msg, pub, { zip215: false })` says so, and only under a public key
 * that passes `assertAcceptablePublicKey`.
 */

/** RFC 8032 section 5.1.5: the private key is a 32-byte seed. */
export const ED25519_SEED_LENGTH = 32;
/** RFC 8032 section 5.1.2: a point is encoded in 32 bytes. */
export const ED25519_PUBLIC_KEY_LENGTH = 32;
/** RFC 8032 section 5.1.6: R (32 bytes) || S (32 bytes). */
export const ED25519_SIGNATURE_LENGTH = 64;

// noble v3's synchronous API needs a SHA-512. @noble/hashes (not node:crypto) keeps the offline
// verifier's dependencies usable in a browser bundle.
if (!noble.hashes.sha512) noble.hashes.sha512 = sha512;

// ---------------------------------------------------------------------------------------------
// Boundary checks
// ---------------------------------------------------------------------------------------------

/**
 * Why a 32-byte point encoding is not the unique one, or undefined when it is canonical.
 * RFC 8032 section 5.1.3, step 1: y >= p fails; step 4: x = 0 with x_0 = 1 ("-0") fails.
 * x = 0 exactly when y = 1 or y = p - 1, so "-0" is recognised from the bytes alone.
 * Internal: shared with the online verifier in ./ed25519, not re-exported there.
 */
export function pointEncodingFlaw(
  bytes: Uint8Array,
  offset = 0,
): 'y_not_reduced' | 'negative_zero' | undefined {
  const top = bytes[offset + 31]! & 0x7f;
  let middleAllFf = true;
  let middleAllZero = true;
  for (let i = 1; i < 31; i++) {
    const b = bytes[offset + i]!;
    if (b !== 0xff) middleAllFf = false;
    if (b !== 0) middleAllZero = false;
  }
  const low = bytes[offset]!;
  // p = 2^255 - 19 is ed ff … ff 7f little-endian.
  if (top === 0x7f && middleAllFf && low >= 0xed) return 'y_not_reduced';
  const signBit = bytes[offset + 31]! & 0x80;
  if (signBit !== 0) {
    const yIsOne = top === 0 && middleAllZero && low === 0x01;
    const yIsMinusOne = top === 0x7f && middleAllFf && low === 0xec;
    if (yIsOne || yIsMinusOne) return 'negative_zero';
  }
  return undefined;
}

/**
 * The public-key acceptance rule, applied when a key is created or imported and on every
 * verification. Returns the same bytes. Refuses:
 * - anything but 32 bytes ('invalid_public_key');
 * - a non-canonical encoding ('non_canonical_key'), RFC 8032 section 5.1.3: two encodings of one
 *   key would give two kids and two JWK thumbprints for one signer;
 * - bytes that are not a point on edwards25519 ('invalid_public_key');
 * - a point of small order ('small_order_key'): under one of the 8 torsion points [k]A vanishes
 *   after cofactor clearing, so signatures verify without knowledge of any secret (ZIP-215
 *   vectors; OpenSSL accepts some of them, see vectors/README.md).
 */
export function assertAcceptablePublicKey(publicKey: Uint8Array): Uint8Array {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== ED25519_PUBLIC_KEY_LENGTH) {
    throw new CryptoError(
      'invalid_public_key',
      `publicKey must be ${ED25519_PUBLIC_KEY_LENGTH} bytes (RFC 8032 section 5.1.5)`,
    );
  }
  const flaw = pointEncodingFlaw(publicKey);
  if (flaw === 'y_not_reduced') {
    throw new CryptoError('non_canonical_key', 'publicKey encodes y >= p (RFC 8032 section 5.1.3)');
  }
  if (flaw === 'negative_zero') {
    throw new CryptoError(
      'non_canonical_key',
      'publicKey encodes x = 0 with the sign bit set (RFC 8032 section 5.1.3)',
    );
  }
  let point: noble.Point;
  try {
    point = noble.Point.fromBytes(publicKey, false);
  } catch (cause) {
    throw new CryptoError('invalid_public_key', 'publicKey is not a point on edwards25519', {
      cause,
    });
  }
  if (point.isSmallOrder()) {
    throw new CryptoError('small_order_key', 'publicKey is a point of small order');
  }
  return publicKey;
}

/** Boolean form of the acceptance rule. */
export function isAcceptablePublicKey(publicKey: Uint8Array): boolean {
  try {
    assertAcceptablePublicKey(publicKey);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------------------------

/** noble's RFC 8032 verdict. Internal: the online verifier in ./ed25519 defers to it. */
export function nobleStrictVerify(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  try {
    // zip215: false is noble's RFC 8032 branch: canonical A and R, S < L, small-order A refused.
    // The default (ZIP-215) accepts non-canonical encodings and gets a Wycheproof test wrong.
    return noble.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

/**
 * The offline verifier (browser, CLI): `@noble/ed25519` alone with `{ zip215: false }` and the
 * same public-key acceptance rule. Never throws; false for any bad input.
 */
export function verifyEd25519Offline(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (!(signature instanceof Uint8Array) || signature.length !== ED25519_SIGNATURE_LENGTH) {
    return false;
  }
  if (!(message instanceof Uint8Array)) return false;
  if (!isAcceptablePublicKey(publicKey)) return false;
  return nobleStrictVerify(publicKey, message, signature);
}

// ---------------------------------------------------------------------------------------------
// JWK (RFC 8037) and thumbprint (RFC 7638)
// ---------------------------------------------------------------------------------------------

export interface Ed25519PublicJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
}

/** RFC 8037 section 2: an Ed25519 public key as an OKP JWK. Refuses unacceptable keys. */
export function ed25519Jwk(publicKey: Uint8Array): Ed25519PublicJwk {
  assertAcceptablePublicKey(publicKey);
  return { kty: 'OKP', crv: 'Ed25519', x: base64urlnopad.encode(publicKey) };
}

/**
 * RFC 7638 section 3 SHA-256 thumbprint, base64url: the key's `kid`. The hash input is the JSON of
 * the required members only (RFC 8037 section 2: crv, kty, x) in lexicographic order, without
 * whitespace (section 3.3); x is base64url, so no character needs escaping.
 */
export function jwkThumbprint(publicKey: Uint8Array): string {
  const { crv, kty, x } = ed25519Jwk(publicKey);
  return base64urlnopad.encode(
    sha256(new TextEncoder().encode(`{"crv":"${crv}","kty":"${kty}","x":"${x}"}`)),
  );
}

/**
 * A SHA-256 thumbprint in base64url is 43 characters; the last carries 2 zero pad bits, so only
 * 16 characters may end it (RFC 4648 section 3.5: one canonical encoding per kid).
 */
const KID_PATTERN = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

/** Whether `kid` is an RFC 7638 SHA-256 thumbprint in canonical base64url: a kid certmark issues. */
export function isKid(kid: unknown): kid is string {
  return typeof kid === 'string' && KID_PATTERN.test(kid);
}

/** Checks that `kid` is an RFC 7638 SHA-256 thumbprint in canonical base64url; returns it. */
export function assertKid(kid: string): string {
  if (!isKid(kid)) {
    throw new CryptoError(
      'invalid_key_id',
      'kid must be a SHA-256 JWK thumbprint in base64url (RFC 7638)',
    );
  }
  return kid;
}

/** Bytes of the mark key id: the first 4 base64url characters of a kid are exactly 3 bytes. */
export const MARK_KEY_ID_LENGTH = 3;

/**
 * The mark key id: the first 3 bytes of the thumbprint. Compact marks carry only these, so two
 * keys may share one (a 1 in 2^24 chance per pair): callers try every key with the prefix.
 */
export function markKeyId(kid: string): Uint8Array {
  assertKid(kid);
  return base64urlnopad.decode(kid.slice(0, 4));
}
