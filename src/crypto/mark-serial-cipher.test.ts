import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hasValidSerialCheckDigits } from './serial';
import {
  deriveMarkSerialKey,
  MarkSerialCipher,
  MAX_BATCH_NUMBER,
  POSITIONS_PER_BATCH,
} from './mark-serial-cipher';

describe('positional mark serials', () => {
  const cipher = new MarkSerialCipher(randomBytes(32));

  it('makes 16-digit serials with valid check digits that locate back to batch and position', () => {
    for (const [batch, position] of [
      [1, 0],
      [1, 999_999],
      [7, 123_456],
      [MAX_BATCH_NUMBER, POSITIONS_PER_BATCH - 1],
    ] as const) {
      const serial = cipher.serialAt(batch, position);
      expect(serial).toMatch(/^\d{16}$/);
      expect(hasValidSerialCheckDigits(serial)).toBe(true);
      expect(cipher.locate(serial)).toEqual({ batchNumber: batch, position });
    }
  });

  it('gives every position of a batch its own serial, in no visible order', () => {
    const serials = Array.from({ length: 5_000 }, (_, p) => cipher.serialAt(3, p));
    expect(new Set(serials).size).toBe(serials.length);
    // Neighbouring positions share no long prefix: the order of issue is not in the serial.
    const sharedPrefix = serials.filter(
      (s, i) => i > 0 && s.slice(0, 6) === serials[i - 1]!.slice(0, 6),
    );
    expect(sharedPrefix.length).toBeLessThan(5);
  });

  it('makes a run of serials at once as it makes each', () => {
    expect(cipher.serialsAt(9, 1_000, 300)).toEqual(
      Array.from({ length: 300 }, (_, k) => cipher.serialAt(9, 1_000 + k)),
    );
    expect(cipher.serialsAt(9, POSITIONS_PER_BATCH - 2, 2)).toHaveLength(2);
    expect(() => cipher.serialsAt(9, POSITIONS_PER_BATCH - 2, 3)).toThrow(/position/);
  });

  it('locates many serials at once as it locates each', () => {
    const serials = Array.from({ length: 100 }, (_, k) => cipher.serialAt(1 + (k % 7), k * 997));
    expect(cipher.locateAll(serials)).toEqual(serials.map((s) => cipher.locate(s)));
    expect(cipher.locateAll([])).toEqual([]);
  });

  it('depends on the key', () => {
    const other = new MarkSerialCipher(randomBytes(32));
    expect(other.serialAt(1, 0)).not.toBe(cipher.serialAt(1, 0));
    const kek = randomBytes(32);
    expect(deriveMarkSerialKey(kek)).toEqual(deriveMarkSerialKey(kek));
    expect(deriveMarkSerialKey(kek)).not.toEqual(deriveMarkSerialKey(randomBytes(32)));
  });

  it('refuses batch numbers and positions outside the serial space', () => {
    expect(() => cipher.serialAt(0, 0)).toThrow(/batch number/);
    expect(() => cipher.serialAt(MAX_BATCH_NUMBER + 1, 0)).toThrow(/batch number/);
    expect(() => cipher.serialAt(1, POSITIONS_PER_BATCH)).toThrow(/position/);
    expect(() => cipher.serialAt(1, -1)).toThrow(/position/);
  });
});
