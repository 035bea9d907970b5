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
import {
  ED25519_PUBLIC_KEY_LENGTH,
  ED25519_SEED_LENGTH,
  ED25519_SIGNATURE_LENGTH,
  isAcceptablePublicKey,
  nobleStrictVerify,
  pointEncodingFlaw,
} from './ed25519-core';
import { CryptoError } from './errors';

// The browser-safe part (acceptance rule, offline verifier, JWK, thumbprint, kids) lives in
// ./ed25519-core; re-exported so importers keep one module to import from.
export {
  assertAcceptablePublicKey,
  assertKid,
  ED25519_PUBLIC_KEY_LENGTH,
  ED25519_SEED_LENGTH,
  ED25519_SIGNATURE_LENGTH,
  ed25519Jwk,
  isAcceptablePublicKey,
  isKid,
  jwkThumbprint,
  MARK_KEY_ID_LENGTH,
  markKeyId,
  verifyEd25519Offline,
  type Ed25519PublicJwk,
} from './ed25519-core';

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

/** RFC 8032 section 5.1.7 step 1: S must satisfy 0 <= S < L (else signatures are malleable). */
function isReducedScalar(signature: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    const s = signature[32 + i]!;
    const l = GROUP_ORDER_LE[i]!;
    if (s !== l) return s < l;
  }
  return false; // S == L
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

/**
 * Verification keys by the array that holds the public key: callers that keep their keys (the mark
 * key ring, the credential verifier's key lists) hand the same array in for every verification,
 * and this finds its KeyObject without hex-encoding the key or reordering the LRU. A private copy
 * confirms the bytes, so an array changed since cannot verify under the key it held before.
 */
const publicKeyObjectsByArray = new WeakMap<Uint8Array, { copy: Buffer; key: KeyObject }>();

/** The cached verification KeyObject, or undefined when the key fails the acceptance rule. */
function publicKeyObject(publicKey: Uint8Array): KeyObject | undefined {
  const byArray = publicKeyObjectsByArray.get(publicKey);
  if (byArray && byArray.copy.equals(publicKey)) return byArray.key;
  const cacheKey = keyHex(publicKey);
  let key = publicKeyObjects.get(cacheKey);
  if (!key) {
    if (!isAcceptablePublicKey(publicKey)) return undefined;
    key = createPublicKey({
      key: Buffer.concat([SPKI_PREFIX, publicKey]),
      format: 'der',
      type: 'spki',
    });
    publicKeyObjects.set(cacheKey, key);
  }
  publicKeyObjectsByArray.set(publicKey, { copy: Buffer.from(publicKey), key });
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

/**
 * The online verifier. Never throws; false for any input that is not a valid signature.
 *
 * Gives exactly noble's `{ zip215: false }` answer: the cheap checks below refuse what noble
 * refuses before any curve arithmetic; OpenSSL's "yes" implies noble's (with those checks, R is the
 * canonical encoding of [S]B - [k]A, so the cofactored equation holds too); and OpenSSL's "no" is
 * re-checked by noble, which may still say yes for a crafted R or A with a small-order component.
 * A valid signature costs one OpenSSL verification (~60 µs); an invalid one that passes the cheap
 * checks also costs one noble verification (~1 ms): keep public verification rate-limited, or use
 * {@link verifyEd25519ByOpenssl} where a "no" that noble would turn into "yes" cannot matter.
 */
export function verifyEd25519(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  const openssl = opensslVerdict(publicKey, message, signature);
  if (openssl !== 'no') return openssl === 'yes';
  return nobleStrictVerify(publicKey, message, signature);
}

/**
 * The cheap half of {@link verifyEd25519}: true exactly when OpenSSL (after the same cheap checks)
 * accepts, which implies noble's yes. A false is noble's answer too, except for a signature whose
 * R or A carries a small-order component: one that satisfies only the cofactored equation
 * (eprint 2020/1244 cases 4 and 5), which nobody but the key's holder can make. A caller that
 * knows such a signature could not change its answer (a mark's serial that no batch of the key
 * holds is forged either way) saves noble's ~1 ms; any other caller uses verifyEd25519.
 */
export function verifyEd25519ByOpenssl(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  return opensslVerdict(publicKey, message, signature) === 'yes';
}

/**
 * 'refused' when a cheap check already gives noble's no (nothing left to ask), else OpenSSL's
 * answer, of which only 'yes' is final.
 */
function opensslVerdict(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): 'yes' | 'no' | 'refused' {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== ED25519_PUBLIC_KEY_LENGTH) {
    return 'refused';
  }
  if (!(signature instanceof Uint8Array) || signature.length !== ED25519_SIGNATURE_LENGTH) {
    return 'refused';
  }
  if (!(message instanceof Uint8Array)) return 'refused';
  if (!isReducedScalar(signature)) return 'refused';
  // RFC 8032 section 5.1.7 step 1: R must decode; a non-canonical R never equals OpenSSL's
  // re-encoding and noble refuses it, so answer now rather than pay for both.
  if (pointEncodingFlaw(signature) !== undefined) return 'refused';
  const key = publicKeyObject(publicKey);
  if (!key) return 'refused';
  try {
    return nodeVerify(null, message, key, signature) ? 'yes' : 'no';
  } catch {
    return 'refused';
  }
}
