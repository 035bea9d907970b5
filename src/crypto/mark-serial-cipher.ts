import { hkdfSync } from 'node:crypto';
import { CryptoError } from './errors';
import { Ff1 } from './ff1';
import { serialCheckDigits } from './serial';

/**
 * Positional mark serials: mark `position` (0-based) of batch number `batch` has the serial whose 14
 * leading digits are FF1(key, batch · 2^20 + position) in radix 10 (./ff1), followed by the usual
 * ISO 7064 MOD 97-10 check digits (./serial). FF1 is a permutation of the 14-digit numbers, so two
 * marks never share a serial, and without the key the digits are as unpredictable as random ones
 * (SPEC: "16 decimal digits, random"); with it, a serial decrypts back to its batch and position,
 * so issuing a batch writes no row per mark (docs/scaling.md, "Storage per mark").
 *
 * Whoever holds the key learns which serials exist, never a signature: a leaked serial key weakens
 * the check of a typed serial (a guessed serial would name a real mark), not a scanned code.
 */

/** Positions per batch: 2^20 = 1,048,576 ≥ the SPEC's largest batch, 1,000,000. */
export const POSITIONS_PER_BATCH = 2 ** 20;
const PAYLOAD_DIGITS = 14;
/** The largest batch number whose every position stays below 10^14. */
export const MAX_BATCH_NUMBER = Math.floor(1e14 / POSITIONS_PER_BATCH) - 1;

/** Where a serial points: a batch number and a 0-based position (which may lie past its count). */
export interface SerialLocation {
  batchNumber: number;
  position: number;
}

export class MarkSerialCipher {
  readonly #ff1: Ff1;

  /** @param key the 32-byte serial key (deriveMarkSerialKey) */
  constructor(key: Uint8Array) {
    if (key.length !== 32) throw new CryptoError('invalid_key', 'the serial key is 32 bytes');
    this.#ff1 = new Ff1(key, 10);
  }

  /** The serial of mark `position` (0-based) of batch number `batchNumber`. */
  serialAt(batchNumber: number, position: number): string {
    return this.serialsAt(batchNumber, position, 1)[0]!;
  }

  /**
   * The serials of marks `first` … `first + count - 1` (0-based) of batch number `batchNumber`,
   * encrypted side by side (one AES call per FF1 round for all): a page of an export or a label
   * sheet.
   */
  serialsAt(batchNumber: number, first: number, count: number): string[] {
    if (!Number.isInteger(batchNumber) || batchNumber < 1 || batchNumber > MAX_BATCH_NUMBER)
      throw new CryptoError(
        'invalid_cipher_input',
        `a batch number is an integer in 1 … ${MAX_BATCH_NUMBER}`,
      );
    if (
      !Number.isInteger(first) ||
      !Number.isInteger(count) ||
      first < 0 ||
      count < 0 ||
      first + count > POSITIONS_PER_BATCH
    )
      throw new CryptoError(
        'invalid_cipher_input',
        `a position is an integer in 0 … ${POSITIONS_PER_BATCH - 1}`,
      );
    const base = batchNumber * POSITIONS_PER_BATCH + first;
    const plain = Array.from({ length: count }, (_, k) =>
      digitsOf(String(base + k).padStart(PAYLOAD_DIGITS, '0')),
    );
    return this.#ff1.encryptAll(plain).map((digits) => {
      const payload = digits.join('');
      return payload + serialCheckDigits(payload);
    });
  }

  /**
   * The batch number and position a well-formed serial decrypts to. Every serial decrypts to
   * some location; whether a mark is there is the registry's to say (the batch must exist and the
   * position be below its count). Check digits are not examined here.
   */
  locate(serial: string): SerialLocation {
    return this.locateAll([serial])[0]!;
  }

  /** `locate` for many serials at once: one AES call per FF1 round for all of them. */
  locateAll(serials: readonly string[]): SerialLocation[] {
    const plain = this.#ff1.decryptAll(serials.map((s) => digitsOf(s.slice(0, PAYLOAD_DIGITS))));
    return plain.map((digits) => {
      const value = Number(digits.join(''));
      return {
        batchNumber: Math.floor(value / POSITIONS_PER_BATCH),
        position: value % POSITIONS_PER_BATCH,
      };
    });
  }
}

/** The serial key, derived from the key-encryption key: nothing more to configure or keep. */
export function deriveMarkSerialKey(kek: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', kek, new Uint8Array(0), 'certmark/mark-serials/v1', 32));
}

function digitsOf(text: string): number[] {
  const digits = new Array<number>(text.length);
  for (let k = 0; k < text.length; k++) digits[k] = text.charCodeAt(k) - 48;
  return digits;
}
