import { createCipheriv, type Cipher } from 'node:crypto';
import { CryptoError } from './errors';

/**
 * FF1 format-preserving encryption (NIST SP 800-38G rev. 1, §5.1, Algorithms 7 and 8) on
 * OpenSSL's AES: a keyed permutation of the numerals of one length, here used to turn a mark's
 * batch and position into a serial that looks random and back (./mark-serial-cipher).
 *
 * Written over `node:crypto` rather than taken from a pure-JavaScript library because it sits on
 * the verification hot path: one AES block per Feistel round (the CBC-MAC's first block, `P`, is
 * the same for every input of one length and is encrypted once) keeps a 14-digit decryption at a
 * few microseconds. It is checked against NIST's published samples and against
 * `@noble/ciphers`' FF1 (./ff1.test.ts).
 *
 * Numerals are handled as numbers: the halves `A` and `B` are kept as NUM_radix values, which
 * limits `radix^ceil(n/2)` to 2^53 (every NIST sample, and 14 decimal digits, fit).
 */

/** SP 800-38G §5.1: 10 Feistel rounds. */
const ROUNDS = 10;
const BLOCK = 16;
/** SP 800-38G §5.1 requires radix^minlen ≥ 1,000,000. */
const MIN_DOMAIN = 1_000_000;

interface Geometry {
  readonly u: number;
  readonly v: number;
  /** Bytes of NUM_radix(B) in Q (step 3). */
  readonly b: number;
  /** Bytes of S (step 4). */
  readonly d: number;
  /** radix^u and radix^v: the moduli of the even and odd rounds. */
  readonly modU: number;
  readonly modV: number;
  /** CIPH_K(P): the CBC-MAC state after P, the same for every input of this length and tweak. */
  readonly afterP: Buffer;
  /** Q's buffer: the tweak and padding are written once, the round and NUM_radix(B) each round. */
  readonly q: Buffer;
}

export class Ff1 {
  readonly #cipher: Cipher;
  readonly #tweak: Uint8Array;
  readonly #geometries = new Map<number, Geometry>();

  /**
   * @param key an AES key of 16, 24 or 32 bytes
   * @param radix the numerals' base, 2 … 2^16
   * @param tweak the public tweak T (may be empty)
   */
  constructor(
    key: Uint8Array,
    readonly radix: number,
    tweak: Uint8Array = new Uint8Array(0),
  ) {
    if (![16, 24, 32].includes(key.length))
      throw new CryptoError('invalid_key', 'an FF1 key is an AES key of 16, 24 or 32 bytes');
    if (!Number.isInteger(radix) || radix < 2 || radix > 65_536)
      throw new CryptoError('invalid_cipher_input', 'FF1 radix must be an integer in 2 … 2^16');
    this.#cipher = createCipheriv(`aes-${key.length * 8}-ecb`, key, null);
    this.#cipher.setAutoPadding(false);
    this.#tweak = Uint8Array.from(tweak);
  }

  /** FF1.Encrypt (Algorithm 7). */
  encrypt(numerals: readonly number[]): number[] {
    return this.encryptAll([numerals])[0]!;
  }

  /** FF1.Decrypt (Algorithm 8). */
  decrypt(numerals: readonly number[]): number[] {
    return this.decryptAll([numerals])[0]!;
  }

  /**
   * FF1.Encrypt of each input (all of one length). The inputs go through the rounds side by side,
   * so each round is one AES call for all of them: ECB encrypts independent blocks.
   */
  encryptAll(inputs: readonly (readonly number[])[]): number[][] {
    if (inputs.length === 0) return [];
    const g = this.#geometryOf(inputs);
    const a = inputs.map((x) => this.#num(x, 0, g.u));
    const b = inputs.map((x) => this.#num(x, g.u, x.length));
    for (let i = 0; i < ROUNDS; i++) {
      const modulus = i % 2 === 0 ? g.modU : g.modV;
      const y = this.#roundValues(g, i, b, modulus);
      for (let k = 0; k < inputs.length; k++) {
        const c = (a[k]! + y[k]!) % modulus;
        a[k] = b[k]!;
        b[k] = c;
      }
    }
    return a.map((ak, k) => [...this.#str(ak, g.u), ...this.#str(b[k]!, g.v)]);
  }

  /** FF1.Decrypt of each input (all of one length), side by side like `encryptAll`. */
  decryptAll(inputs: readonly (readonly number[])[]): number[][] {
    if (inputs.length === 0) return [];
    const g = this.#geometryOf(inputs);
    const a = inputs.map((x) => this.#num(x, 0, g.u));
    const b = inputs.map((x) => this.#num(x, g.u, x.length));
    for (let i = ROUNDS - 1; i >= 0; i--) {
      const modulus = i % 2 === 0 ? g.modU : g.modV;
      const y = this.#roundValues(g, i, a, modulus);
      for (let k = 0; k < inputs.length; k++) {
        const c = (b[k]! - y[k]! + modulus) % modulus;
        b[k] = a[k]!;
        a[k] = c;
      }
    }
    return a.map((ak, k) => [...this.#str(ak, g.u), ...this.#str(b[k]!, g.v)]);
  }

  /**
   * Steps 6.i–6.iv for each half: y = NUM(S) mod radix^m, where S is the first d bytes of
   * PRF(P || Q) and Q = T || 0^((-t-b-1) mod 16) || [i] || [NUM_radix(B)]^b. The modulus is
   * taken here because step 6.vi only ever uses y mod radix^m.
   */
  #roundValues(g: Geometry, round: number, halves: readonly number[], modulus: number): number[] {
    const count = halves.length;
    const qLength = g.q.length;
    // Every input's Q, one after the other: the tweak and padding as prepared, then i and B.
    const q = Buffer.allocUnsafe(qLength * count);
    for (let k = 0; k < count; k++) {
      const at = k * qLength;
      g.q.copy(q, at);
      q[at + qLength - g.b - 1] = round;
      let rest = halves[k]!;
      for (let j = at + qLength - 1; j >= at + qLength - g.b; j--) {
        q[j] = rest % 256;
        rest = Math.floor(rest / 256);
      }
    }
    // CBC-MAC over P || Q for all inputs at once, a block of Q at a time, from CIPH(P).
    const state = Buffer.allocUnsafe(BLOCK * count);
    for (let k = 0; k < count; k++) g.afterP.copy(state, k * BLOCK);
    let macs: Buffer = state;
    for (let offset = 0; offset < qLength; offset += BLOCK) {
      for (let k = 0; k < count; k++) {
        for (let j = 0; j < BLOCK; j++) {
          macs[k * BLOCK + j]! ^= q[k * qLength + offset + j]!;
        }
      }
      macs = this.#cipher.update(macs);
    }
    const values = new Array<number>(count);
    for (let k = 0; k < count; k++) {
      const base = k * BLOCK;
      // NUM(S) mod radix^m, a byte at a time: below 2^45 the running value times 256 stays exact.
      if (modulus < 2 ** 45) {
        let y = 0;
        for (let j = 0; j < g.d; j++) y = (y * 256 + macs[base + j]!) % modulus;
        values[k] = y;
      } else {
        let y = 0n;
        for (let j = 0; j < g.d; j++) y = (y << 8n) | BigInt(macs[base + j]!);
        values[k] = Number(y % BigInt(modulus));
      }
    }
    return values;
  }

  /** The geometry of a set of inputs, which must all have one length. */
  #geometryOf(inputs: readonly (readonly number[])[]): Geometry {
    const n = inputs[0]!.length;
    if (inputs.some((x) => x.length !== n))
      throw new CryptoError('invalid_cipher_input', 'FF1 inputs taken together have one length');
    return this.#geometry(n);
  }

  #geometry(n: number): Geometry {
    const known = this.#geometries.get(n);
    if (known) return known;
    const u = Math.floor(n / 2);
    const v = n - u;
    if (!Number.isInteger(n) || this.radix ** n < MIN_DOMAIN || n > 0xffffffff)
      throw new CryptoError('invalid_cipher_input', `FF1 needs radix^n ≥ ${MIN_DOMAIN}`);
    if (this.radix ** v > Number.MAX_SAFE_INTEGER)
      throw new CryptoError('invalid_cipher_input', 'FF1 here takes halves below 2^53');
    const b = Math.ceil(Math.ceil(v * Math.log2(this.radix) - 1e-9) / 8);
    const d = 4 * Math.ceil(b / 4) + 4;
    if (d > BLOCK) throw new CryptoError('invalid_cipher_input', 'FF1 here takes S of one block');
    const p = Buffer.alloc(BLOCK);
    p.set([1, 2, 1, (this.radix >> 16) & 0xff, (this.radix >> 8) & 0xff, this.radix & 0xff, 10]);
    p[7] = u % 256;
    p.writeUInt32BE(n, 8);
    p.writeUInt32BE(this.#tweak.length, 12);
    const t = this.#tweak.length;
    const q = Buffer.alloc(t + ((((-t - b - 1) % BLOCK) + BLOCK) % BLOCK) + 1 + b);
    q.set(this.#tweak, 0);
    const geometry: Geometry = {
      q,
      u,
      v,
      b,
      d,
      modU: this.radix ** u,
      modV: this.radix ** v,
      afterP: this.#cipher.update(p),
    };
    this.#geometries.set(n, geometry);
    return geometry;
  }

  /** NUM_radix of numerals[from, to), each checked to be a numeral of the radix. */
  #num(numerals: readonly number[], from: number, to: number): number {
    let value = 0;
    for (let k = from; k < to; k++) {
      const digit = numerals[k]!;
      if (!Number.isInteger(digit) || digit < 0 || digit >= this.radix)
        throw new CryptoError(
          'invalid_cipher_input',
          `FF1 numerals must be integers in 0 … ${this.radix - 1}`,
        );
      value = value * this.radix + digit;
    }
    return value;
  }

  /** STR^m_radix(x): m numerals, most significant first. */
  #str(x: number, m: number): number[] {
    const out = new Array<number>(m);
    let rest = x;
    for (let k = m - 1; k >= 0; k--) {
      out[k] = rest % this.radix;
      rest = Math.floor(rest / this.radix);
    }
    return out;
  }
}
