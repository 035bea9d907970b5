import {
  createHash,
  createPrivateKey,
  createPublicKey,
  randomFillSync,
  sign as nodeSign,
  timingSafeEqual,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto';
import * as noble from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import { CryptoError } from './errors';

/**
 * Ed25519 (RFC 8032) for certmark: keys, signing, and the two verifiers.
 *
 * One strict rule everywhere (SPEC "Product marks"): a signature verifies exactly when
 * `@noble/ed25519` `verify(sig, msg, pub, { zip215: false })` says so, and only under a public key
 * that passes `assertAcceptablePublicKey`. The online verifier takes node:crypto's (OpenSSL's)
 * fast path for the common case and defers to noble whenever OpenSSL says no, because the two
 * differ in a way cheap checks cannot close: OpenSSL checks the cofactorless equation
 * [S]B = R + [k]A (RFC 8032 section 5.1.7 step 3 "sufficient, not required" form), noble the
 * cofactored [8][S]B = [8]R + [8][k]A. They disagree only on signatures whose R or A carries a
 * small-order component (eprint 2020/1244 vectors 4 and 5), which only the key holder can make.
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

/**
 * RFC 8410 section 7: PKCS#8 OneAsymmetricKey for id-Ed25519 (1.3.101.112) whose privateKey is
 * the OCTET STRING of the 32-byte seed. Prefix + seed is the whole DER.
 */
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
/** RFC 8410 section 4: SubjectPublicKeyInfo for id-Ed25519; prefix + 32-byte key is the DER. */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** L, the order of the prime subgroup (RFC 8032 section 5.1), little-endian. */
const GROUP_ORDER_LE = Uint8Array.from(
  Buffer.from('1000000000000000000000000000000014def9dea2f79cd65812631a5cf5d3ed', 'hex').reverse(),
);

// ---------------------------------------------------------------------------------------------
// Boundary checks
// ---------------------------------------------------------------------------------------------

function assertSeed(seed: Uint8Array): Uint8Array {
  if (!(seed instanceof Uint8Array) || seed.length !== ED25519_SEED_LENGTH) {
    throw new CryptoError(
      'invalid_seed',
      `seed must be ${ED25519_SEED_LENGTH} bytes (RFC 8032 section 5.1.5)`,
    );
  }
  return seed;
}

/**
 * Why a 32-byte point encoding is not the unique one, or undefined when it is canonical.
 * RFC 8032 section 5.1.3, step 1: y >= p fails; step 4: x = 0 with x_0 = 1 ("-0") fails.
 * x = 0 exactly when y = 1 or y = p - 1, so "-0" is recognised from the bytes alone.
 */
function pointEncodingFlaw(
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

/** RFC 8032 section 5.1.7 step 1: S must satisfy 0 <= S < L (else signatures are malleable). */
function isReducedScalar(signature: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    const s = signature[32 + i]!;
    const l = GROUP_ORDER_LE[i]!;
    if (s !== l) return s < l;
  }
  return false; // S == L
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
// KeyObject caches: building a KeyObject from DER costs ~300 µs, a signature ~20 µs.
// ---------------------------------------------------------------------------------------------

/** A small LRU on Map's insertion order: a hit moves to the back, the front is evicted. */
class BoundedCache<K, V> {
  private readonly entries = new Map<K, V>();
  constructor(private readonly capacity: number) {}

  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): void {
    this.entries.delete(key);
    if (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, value);
  }

  delete(key: K): void {
    this.entries.delete(key);
  }
}

/** Verification keys by key hex. Only keys that passed the acceptance rule are ever stored. */
const publicKeyObjects = new BoundedCache<string, KeyObject>(1024);

/**
 * Signing keys. First by the seed array's identity (the key vault hands out the same array each
 * time), confirmed against a private copy so a mutated or reused array never signs with a stale
 * key; then by a one-way fingerprint of the seed, so the seed itself never becomes a Map key
 * (strings cannot be wiped and show up in heap dumps).
 */
interface CachedSigningKey {
  readonly seedCopy: Uint8Array;
  readonly key: KeyObject;
}
const signingKeysBySeedArray = new WeakMap<Uint8Array, CachedSigningKey>();
const signingKeysByFingerprint = new BoundedCache<string, KeyObject>(64);
const SEED_FINGERPRINT_DOMAIN = 'certmark/seed-cache/v1\0';

function seedFingerprint(seed: Uint8Array): string {
  return createHash('sha256').update(SEED_FINGERPRINT_DOMAIN).update(seed).digest('base64url');
}

function privateKeyObject(seed: Uint8Array): KeyObject {
  const byIdentity = signingKeysBySeedArray.get(seed);
  if (byIdentity && timingSafeEqual(byIdentity.seedCopy, seed)) return byIdentity.key;

  const fingerprint = seedFingerprint(seed);
  let key = signingKeysByFingerprint.get(fingerprint);
  if (!key) {
    const der = Buffer.concat([PKCS8_PREFIX, seed]);
    try {
      key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    } finally {
      der.fill(0);
    }
    signingKeysByFingerprint.set(fingerprint, key);
  }
  signingKeysBySeedArray.set(seed, { seedCopy: new Uint8Array(seed), key });
  return key;
}

/** Drops a signing key from the in-process caches (after the key is marked compromised). */
export function forgetSigningKey(seed: Uint8Array): void {
  assertSeed(seed);
  const cached = signingKeysBySeedArray.get(seed);
  cached?.seedCopy.fill(0);
  signingKeysBySeedArray.delete(seed);
  signingKeysByFingerprint.delete(seedFingerprint(seed));
}

function keyHex(publicKey: Uint8Array): string {
  return Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.length).toString('hex');
}

/** The cached verification KeyObject, or undefined when the key fails the acceptance rule. */
function publicKeyObject(publicKey: Uint8Array): KeyObject | undefined {
  const cacheKey = keyHex(publicKey);
  const cached = publicKeyObjects.get(cacheKey);
  if (cached) return cached;
  if (!isAcceptablePublicKey(publicKey)) return undefined;
  const key = createPublicKey({
    key: Buffer.concat([SPKI_PREFIX, publicKey]),
    format: 'der',
    type: 'spki',
  });
  publicKeyObjects.set(cacheKey, key);
  return key;
}

// ---------------------------------------------------------------------------------------------
// Keys and signing
// ---------------------------------------------------------------------------------------------

/** A fresh key pair: a 32-byte seed from the OS CSPRNG and its public key. */
export function generateSigningKey(): { seed: Uint8Array; publicKey: Uint8Array } {
  const seed = randomFillSync(new Uint8Array(ED25519_SEED_LENGTH));
  return { seed, publicKey: publicKeyFromSeed(seed) };
}

/** RFC 8032 section 5.1.5: the public key of a seed. */
export function publicKeyFromSeed(seed: Uint8Array): Uint8Array {
  const key = privateKeyObject(assertSeed(seed));
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(SPKI_PREFIX.length));
}

/**
 * RFC 8032 section 5.1.6 signature by OpenSSL (deterministic, so byte for byte the RFC's output).
 * About 20 µs once the seed's KeyObject is cached.
 */
export function signEd25519(seed: Uint8Array, message: Uint8Array): Uint8Array {
  const key = privateKeyObject(assertSeed(seed));
  return new Uint8Array(nodeSign(null, message, key));
}

// ---------------------------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------------------------

function nobleStrictVerify(
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
 * The online verifier. Never throws; false for any input that is not a valid signature.
 *
 * Gives exactly noble's `{ zip215: false }` answer: the cheap checks below refuse what noble
 * refuses before any curve arithmetic; OpenSSL's "yes" implies noble's (with those checks, R is the
 * canonical encoding of [S]B - [k]A, so the cofactored equation holds too); and OpenSSL's "no" is
 * re-checked by noble, which may still say yes for a crafted R or A with a small-order component.
 * A valid signature costs one OpenSSL verification (~60 µs); an invalid one that passes the cheap
 * checks also costs one noble verification (~1 ms): keep public verification rate-limited.
 */
export function verifyEd25519(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== ED25519_PUBLIC_KEY_LENGTH) {
    return false;
  }
  if (!(signature instanceof Uint8Array) || signature.length !== ED25519_SIGNATURE_LENGTH) {
    return false;
  }
  if (!(message instanceof Uint8Array)) return false;
  if (!isReducedScalar(signature)) return false;
  // RFC 8032 section 5.1.7 step 1: R must decode; a non-canonical R never equals OpenSSL's
  // re-encoding and noble refuses it, so answer now rather than pay for both.
  if (pointEncodingFlaw(signature) !== undefined) return false;
  const key = publicKeyObject(publicKey);
  if (!key) return false;
  let opensslSaysValid: boolean;
  try {
    opensslSaysValid = nodeVerify(null, message, key, signature);
  } catch {
    return false;
  }
  return opensslSaysValid || nobleStrictVerify(publicKey, message, signature);
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
  return { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') };
}

/**
 * RFC 7638 section 3 SHA-256 thumbprint, base64url: the key's `kid`. The hash input is the JSON of
 * the required members only (RFC 8037 section 2: crv, kty, x) in lexicographic order, without
 * whitespace (section 3.3); x is base64url, so no character needs escaping.
 */
export function jwkThumbprint(publicKey: Uint8Array): string {
  const { crv, kty, x } = ed25519Jwk(publicKey);
  return createHash('sha256')
    .update(`{"crv":"${crv}","kty":"${kty}","x":"${x}"}`, 'utf8')
    .digest('base64url');
}

/**
 * A SHA-256 thumbprint in base64url is 43 characters; the last carries 2 zero pad bits, so only
 * 16 characters may end it (RFC 4648 section 3.5: one canonical encoding per kid).
 */
const KID_PATTERN = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

/** Checks that `kid` is an RFC 7638 SHA-256 thumbprint in canonical base64url; returns it. */
export function assertKid(kid: string): string {
  if (typeof kid !== 'string' || !KID_PATTERN.test(kid)) {
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
  return new Uint8Array(Buffer.from(kid.slice(0, 4), 'base64url'));
}
