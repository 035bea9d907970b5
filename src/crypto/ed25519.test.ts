import { createHash, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as noble from '@noble/ed25519';
import { calculateJwkThumbprint } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  assertAcceptablePublicKey,
  ed25519Jwk,
  forgetSigningKey,
  generateSigningKey,
  isAcceptablePublicKey,
  jwkThumbprint,
  markKeyId,
  publicKeyFromSeed,
  signEd25519,
  verifyEd25519,
  verifyEd25519ByOpenssl,
  verifyEd25519Offline,
} from './ed25519';
import { expectCryptoError } from '../../test/crypto-errors';

// Public vectors kept in test/vectors (their provenance is in test/vectors/README.md).
const VECTORS = new URL('../../test/vectors/', import.meta.url);
const readVectors = <T>(name: string): T =>
  JSON.parse(readFileSync(new URL(name, VECTORS), 'utf8')) as T;

const hex = (value: string): Uint8Array => new Uint8Array(Buffer.from(value, 'hex'));
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const ascii = (value: string): Uint8Array => new TextEncoder().encode(value);

/** The reference answer the whole service must give (SPEC "Product marks"). */
function nobleStrict(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return noble.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const leToBigInt = (bytes: Uint8Array): bigint => BigInt('0x' + toHex(bytes.slice().reverse()));
const bigIntToLe32 = (value: bigint): Uint8Array =>
  hex(value.toString(16).padStart(64, '0')).reverse();

/** The 8 torsion points of edwards25519, canonically encoded. */
const SMALL_ORDER_KEYS = [
  '0100000000000000000000000000000000000000000000000000000000000000', // identity
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // order 2
  '0000000000000000000000000000000000000000000000000000000000000000', // order 4
  '0000000000000000000000000000000000000000000000000000000000000080', // order 4
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa', // order 8
];

describe('keys', () => {
  it('generates a 32-byte seed and its public key', () => {
    const { seed, publicKey } = generateSigningKey();
    expect(seed).toHaveLength(32);
    expect(publicKey).toHaveLength(32);
    expect(toHex(publicKey)).toBe(toHex(noble.getPublicKey(seed)));
    expect(assertAcceptablePublicKey(publicKey)).toBe(publicKey);
    expect(toHex(generateSigningKey().seed)).not.toBe(toHex(seed));
  });

  it('refuses a seed that is not 32 bytes', () => {
    expectCryptoError(() => publicKeyFromSeed(new Uint8Array(31)), 'invalid_seed');
    expectCryptoError(() => signEd25519(new Uint8Array(33), ascii('x')), 'invalid_seed');
  });

  it('signs with the current content of a seed array, never a cached stale key', () => {
    const seed = generateSigningKey().seed;
    const message = ascii('certmark');
    const first = signEd25519(seed, message);
    const other = generateSigningKey().seed;
    seed.set(other); // the same array now holds another seed
    const second = signEd25519(seed, message);
    expect(toHex(second)).toBe(toHex(noble.sign(message, other)));
    expect(toHex(second)).not.toBe(toHex(first));
    // an equal seed in another array gives the same key
    expect(toHex(signEd25519(new Uint8Array(other), message))).toBe(toHex(second));
    forgetSigningKey(seed);
    expect(toHex(signEd25519(seed, message))).toBe(toHex(second));
  });
});

describe('assertAcceptablePublicKey', () => {
  it('refuses the wrong length', () => {
    expectCryptoError(() => assertAcceptablePublicKey(new Uint8Array(31)), 'invalid_public_key');
    expectCryptoError(() => assertAcceptablePublicKey(new Uint8Array(33)), 'invalid_public_key');
  });

  it.each(SMALL_ORDER_KEYS)('refuses the small-order point %s', (key) => {
    expect(noble.Point.fromHex(key).isSmallOrder()).toBe(true);
    expectCryptoError(() => assertAcceptablePublicKey(hex(key)), 'small_order_key');
  });

  it('refuses non-canonical encodings (RFC 8032 section 5.1.3)', () => {
    // y = p and y = p + 1 (the latter is y = 1 in disguise), y = 2^255 - 1
    for (const key of [
      'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
      // x = 0 with the sign bit set: -0 for y = 1 and for y = p - 1
      '0100000000000000000000000000000000000000000000000000000000000080',
      'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
    ]) {
      expectCryptoError(() => assertAcceptablePublicKey(hex(key)), 'non_canonical_key');
    }
  });

  it('refuses bytes that are not a curve point', () => {
    const notOnCurve = hex('0200000000000000000000000000000000000000000000000000000000000000');
    expect(() => noble.Point.fromBytes(notOnCurve)).toThrow();
    expectCryptoError(() => assertAcceptablePublicKey(notOnCurve), 'invalid_public_key');
  });
});

interface WycheproofFile {
  numberOfTests: number;
  testGroups: {
    publicKey: { pk: string };
    publicKeyJwk: { x: string };
    tests: { tcId: number; comment: string; msg: string; sig: string; result: string }[];
  }[];
}

describe('Wycheproof ed25519_test.json', () => {
  const file = readVectors<WycheproofFile>('ed25519_test.json');
  const cases = file.testGroups.flatMap((group) =>
    group.tests.map((test) => ({ ...test, pk: group.publicKey.pk, jwkX: group.publicKeyJwk.x })),
  );

  it('holds all 151 tests, 88 valid', () => {
    expect(cases).toHaveLength(151);
    expect(cases.filter((c) => c.result === 'valid')).toHaveLength(88);
  });

  it('uses only acceptable keys in valid tests, and their JWK matches', () => {
    const refused = cases.filter((c) => c.result === 'valid' && !isAcceptablePublicKey(hex(c.pk)));
    expect(refused.map((c) => c.tcId)).toEqual([]);
    for (const c of cases) expect(ed25519Jwk(hex(c.pk)).x).toBe(c.jwkX);
  });

  it.each(cases)('tcId $tcId ($result) $comment', ({ pk, msg, sig, result }) => {
    const expected = result === 'valid';
    const publicKey = hex(pk);
    expect(verifyEd25519(publicKey, hex(msg), hex(sig))).toBe(expected);
    expect(verifyEd25519Offline(publicKey, hex(msg), hex(sig))).toBe(expected);
    if (!isAcceptablePublicKey(publicKey)) expect(expected).toBe(false);
  });
});

describe('RFC 8032 section 7.1', () => {
  const vectors =
    readVectors<{ priv: string; pub: string; msg: string; sig: string }[]>('rfc8032-ed25519.json');

  it.each(vectors.map((v, index) => ({ ...v, index })))(
    'test $index',
    ({ priv, pub, msg, sig }) => {
      expect(toHex(publicKeyFromSeed(hex(priv)))).toBe(pub);
      expect(toHex(signEd25519(hex(priv), hex(msg)))).toBe(sig);
      expect(verifyEd25519(hex(pub), hex(msg), hex(sig))).toBe(true);
      expect(verifyEd25519Offline(hex(pub), hex(msg), hex(sig))).toBe(true);
    },
  );

  it('refuses a non-canonical S (S + L), which OpenSSL and noble both see', () => {
    const { pub, msg, sig } = vectors[0]!;
    const signature = hex(sig);
    const s = leToBigInt(signature.subarray(32));
    signature.set(bigIntToLe32(s + L), 32);
    expect(verifyEd25519(hex(pub), hex(msg), signature)).toBe(false);
    expect(verifyEd25519Offline(hex(pub), hex(msg), signature)).toBe(false);
  });

  it('returns false, never throws, on wrong lengths', () => {
    const { pub, msg, sig } = vectors[1]!;
    for (const verify of [verifyEd25519, verifyEd25519Offline]) {
      expect(verify(hex(pub).subarray(1), hex(msg), hex(sig))).toBe(false);
      expect(verify(hex(pub), hex(msg), hex(sig).subarray(1))).toBe(false);
      expect(verify(hex(pub), hex(msg), hex(sig + '00'))).toBe(false);
      expect(verify(new Uint8Array(0), new Uint8Array(0), new Uint8Array(0))).toBe(false);
    }
  });
});

describe('ZIP-215 small-order cases', () => {
  const vectors = readVectors<{ vk_bytes: string; sig_bytes: string }[]>('zip215.json');
  const message = ascii('Zcash');

  it('holds 196 cases', () => expect(vectors).toHaveLength(196));

  it('rejects all 196 with both verifiers', () => {
    const acceptedOnline = vectors.filter((v) =>
      verifyEd25519(hex(v.vk_bytes), message, hex(v.sig_bytes)),
    );
    const acceptedOffline = vectors.filter((v) =>
      verifyEd25519Offline(hex(v.vk_bytes), message, hex(v.sig_bytes)),
    );
    expect(acceptedOnline).toEqual([]);
    expect(acceptedOffline).toEqual([]);
  });

  it('refuses every small-order key among them', () => {
    for (const { vk_bytes } of vectors) {
      // ZIP-215 decoding is the lenient one, so non-canonical encodings are classified too.
      const point = noble.Point.fromHex(vk_bytes, true);
      if (point.isSmallOrder()) expect(isAcceptablePublicKey(hex(vk_bytes))).toBe(false);
    }
    const refusedKeys = new Set(vectors.map((v) => v.vk_bytes));
    for (const key of refusedKeys) expect(isAcceptablePublicKey(hex(key))).toBe(false);
  });
});

describe('eprint 2020/1244 edge cases', () => {
  const vectors = readVectors<{ message: string; pub_key: string; signature: string }[]>(
    'ed25519_edge_cases_eprint2020-1244.json',
  );

  it.each(vectors.map((v, index) => ({ ...v, index })))(
    'case $index answers as noble { zip215: false }',
    ({ message, pub_key, signature }) => {
      const expected = nobleStrict(hex(pub_key), hex(message), hex(signature));
      expect(verifyEd25519(hex(pub_key), hex(message), hex(signature))).toBe(expected);
      expect(verifyEd25519Offline(hex(pub_key), hex(message), hex(signature))).toBe(expected);
      // OpenSSL's half never says yes where noble says no: its yes is final.
      if (verifyEd25519ByOpenssl(hex(pub_key), hex(message), hex(signature)))
        expect(expected).toBe(true);
    },
  );
});

describe('agreement beyond the vectors', () => {
  it('accepts a cofactored-only signature (R with a torsion part) as noble does', () => {
    // Made by the key holder: R = [r]B + T8 with T8 of order 8. [S]B = R - T8 + [k]A, so the
    // cofactorless equation OpenSSL checks fails while noble's cofactored one holds.
    const { seed, publicKey } = generateSigningKey();
    const { scalar } = noble.utils.getExtendedPublicKey(seed);
    const message = ascii('crafted');
    const torsion = noble.Point.fromHex(SMALL_ORDER_KEYS[6]!);
    const r = leToBigInt(noble.etc.randomBytes(32)) % L;
    const R = noble.Point.BASE.multiply(r).add(torsion).toBytes();
    const k =
      leToBigInt(
        new Uint8Array(createHash('sha512').update(R).update(publicKey).update(message).digest()),
      ) % L;
    const signature = new Uint8Array(64);
    signature.set(R, 0);
    signature.set(bigIntToLe32((r + k * scalar) % L), 32);

    const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), publicKey]);
    const openssl = nodeVerify(
      null,
      message,
      createPublicKey({ key: spki, format: 'der', type: 'spki' }),
      signature,
    );
    expect(openssl).toBe(false);
    expect(nobleStrict(publicKey, message, signature)).toBe(true);
    expect(verifyEd25519(publicKey, message, signature)).toBe(true);
    expect(verifyEd25519Offline(publicKey, message, signature)).toBe(true);
    // The cheap half says no: the one case its callers must leave to verifyEd25519.
    expect(verifyEd25519ByOpenssl(publicKey, message, signature)).toBe(false);
    const { seed: otherSeed } = generateSigningKey();
    expect(verifyEd25519ByOpenssl(publicKey, message, signEd25519(seed, message))).toBe(true);
    expect(verifyEd25519ByOpenssl(publicKey, message, signEd25519(otherSeed, message))).toBe(false);
  });

  it('agrees with noble on every single-bit flip of a signature and key', () => {
    const { seed, publicKey } = generateSigningKey();
    const message = ascii('bit flips');
    const signature = signEd25519(seed, message);
    for (let bit = 0; bit < 512; bit += 3) {
      const tampered = signature.slice();
      tampered[bit >> 3]! ^= 1 << (bit & 7);
      const expected = nobleStrict(publicKey, message, tampered);
      expect(expected).toBe(false);
      expect(verifyEd25519(publicKey, message, tampered)).toBe(expected);
      expect(verifyEd25519Offline(publicKey, message, tampered)).toBe(expected);
    }
    for (let bit = 0; bit < 256; bit += 5) {
      const tamperedKey = publicKey.slice();
      tamperedKey[bit >> 3]! ^= 1 << (bit & 7);
      const expected = nobleStrict(tamperedKey, message, signature);
      expect(verifyEd25519(tamperedKey, message, signature)).toBe(expected);
      expect(verifyEd25519Offline(tamperedKey, message, signature)).toBe(expected);
    }
  });
});

describe('JWK and thumbprint', () => {
  it('matches the RFC 8037 appendix A.3 example', () => {
    const publicKey = hex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    expect(ed25519Jwk(publicKey)).toEqual({
      kty: 'OKP',
      crv: 'Ed25519',
      x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo',
    });
    expect(jwkThumbprint(publicKey)).toBe('kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k');
  });

  it('agrees with jose calculateJwkThumbprint', async () => {
    for (let i = 0; i < 20; i++) {
      const { publicKey } = generateSigningKey();
      expect(jwkThumbprint(publicKey)).toBe(
        await calculateJwkThumbprint(ed25519Jwk(publicKey), 'sha256'),
      );
    }
  });

  it('refuses to publish an unacceptable key', () => {
    expectCryptoError(() => ed25519Jwk(hex(SMALL_ORDER_KEYS[0]!)), 'small_order_key');
    expectCryptoError(() => jwkThumbprint(hex(SMALL_ORDER_KEYS[7]!)), 'small_order_key');
  });

  it('derives the 3-byte mark key id from the kid', () => {
    const kid = 'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k';
    const keyId = markKeyId(kid);
    expect(keyId).toHaveLength(3);
    expect(toHex(keyId)).toBe(Buffer.from(kid, 'base64url').subarray(0, 3).toString('hex'));
  });

  it('refuses a kid that is not a canonical base64url SHA-256 thumbprint', () => {
    for (const kid of [
      '',
      'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4', // 42 characters
      'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k=', // padding
      'kPrK+qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k', // base64, not base64url
      'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4l', // non-zero pad bits
    ]) {
      expectCryptoError(() => markKeyId(kid), 'invalid_key_id');
    }
  });
});
