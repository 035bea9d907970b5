import { createHash, createHmac } from 'node:crypto';

/**
 * The deterministic selection of a random inspection draw (双随机、一公开): given the seed, anyone
 * can recompute which certificates and which inspectors a published draw selected. Pure.
 *
 * Algorithm `certmark-draw/v1`:
 *
 * 1. Inputs: `seed` (32 bytes), `candidates` (certificate ids, sorted by code point, as
 *    published), `inspectors` (names or ids, sorted by code point, as published), `n`, `m`.
 * 2. Random stream for a label L ("certificates" or "inspectors"): block c (c = 0, 1, 2, …) is
 *    HMAC-SHA256(key = seed, message = UTF-8 "certmark-draw/v1:" + L + ":" + decimal c).
 * 3. uniform(L, k): take the next block of L's stream, read its first 8 bytes as a big-endian
 *    unsigned 64-bit x; if x ≥ 2^64 − (2^64 mod k), discard it and take the next block (rejection
 *    sampling: no modulo bias); otherwise return x mod k.
 * 4. Choose min(n, |list|) of a list by a partial Fisher–Yates shuffle of a copy `a`:
 *    for i = 0 … min(n, |a|) − 1: j = i + uniform(L, |a| − i); swap a[i] and a[j]. The result is
 *    a[0 … min(n, |a|) − 1], in that order.
 * 5. Certificates: step 4 on `candidates` with L = "certificates" and n; inspectors: step 4 on
 *    `inspectors` with L = "inspectors" and m. The two streams are independent.
 *
 * The commitment published before the candidates are read is SHA-256(seed), hex.
 */
export const DRAW_ALGORITHM = 'certmark-draw/v1';

export const DRAW_SEED_LENGTH = 32;

const TWO_TO_64 = 1n << 64n;

/** SHA-256(seed) in hex: the commitment published before the draw. */
export function drawCommitment(seed: Uint8Array): string {
  return createHash('sha256').update(seed).digest('hex');
}

/** SHA-256 of the candidate ids joined by '\n', hex: a short fingerprint of the published list. */
export function candidatesDigest(candidates: readonly string[]): string {
  return createHash('sha256').update(candidates.join('\n')).digest('hex');
}

/** Code-point order (not locale order), so every implementation sorts the same way. */
export function codePointSort(values: readonly string[]): string[] {
  return [...values].sort(compareCodePoints);
}

/**
 * Compares by Unicode code point, as Python, Go (by UTF-8 bytes) and SQL's C collation do. A
 * JavaScript `<` compares UTF-16 code units, which puts a character beyond U+FFFF (two surrogates,
 * D800–DFFF) before one in U+E000–U+FFFF: an outside reimplementation drew other inspectors from
 * a pool of such names. At the first differing unit, surrogates are moved above that range.
 */
function compareCodePoints(a: string, b: string): number {
  const shift = (unit: number) =>
    unit >= 0xd800 && unit <= 0xdfff ? unit + 0x2000 : unit >= 0xe000 ? unit - 0x800 : unit;
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return shift(x) - shift(y);
  }
  return a.length - b.length;
}

/** The uniform integers of one label's stream. */
class DrawStream {
  #counter = 0;
  constructor(
    private readonly seed: Uint8Array,
    private readonly label: string,
  ) {}

  /** A uniform integer in [0, k), k ≥ 1. */
  uniform(k: number): number {
    const bound = BigInt(k);
    const limit = TWO_TO_64 - (TWO_TO_64 % bound);
    for (;;) {
      const block = createHmac('sha256', this.seed)
        .update(`${DRAW_ALGORITHM}:${this.label}:${this.#counter++}`, 'utf8')
        .digest();
      const x = block.readBigUInt64BE(0);
      if (x < limit) return Number(x % bound);
    }
  }
}

function choose<T>(seed: Uint8Array, label: string, list: readonly T[], count: number): T[] {
  const stream = new DrawStream(seed, label);
  const a = [...list];
  const take = Math.min(count, a.length);
  for (let i = 0; i < take; i++) {
    const j = i + stream.uniform(a.length - i);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a.slice(0, take);
}

function seedBytes(seed: Uint8Array | string): Uint8Array {
  const bytes =
    typeof seed === 'string'
      ? /^[0-9a-f]{64}$/i.test(seed)
        ? Buffer.from(seed, 'hex')
        : undefined
      : seed;
  if (!(bytes instanceof Uint8Array) || bytes.length !== DRAW_SEED_LENGTH) {
    throw new TypeError(`seed must be ${DRAW_SEED_LENGTH} bytes (or 64 hex digits)`);
  }
  return bytes;
}

/**
 * Recomputes a draw (algorithm {@link DRAW_ALGORITHM}): the `n` certificates and `m` inspectors
 * it selects, in draw order. Lists are used in the order given: pass them as published (sorted).
 *
 * @example
 * const { certificates, inspectors } = recomputeDraw(draw.seed, draw.candidates, draw.inspectors, 5, 2);
 */
export function recomputeDraw(
  seed: Uint8Array | string,
  candidates: readonly string[],
  inspectors: readonly string[],
  n: number,
  m: number,
): { certificates: string[]; inspectors: string[] } {
  const bytes = seedBytes(seed);
  if (!Number.isSafeInteger(n) || n < 0 || !Number.isSafeInteger(m) || m < 0) {
    throw new RangeError('n and m must be non-negative integers');
  }
  return {
    certificates: choose(bytes, 'certificates', candidates, n),
    inspectors: choose(bytes, 'inspectors', inspectors, m),
  };
}
