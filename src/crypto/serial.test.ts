import { describe, expect, it } from 'vitest';
import { expectCryptoError } from '../../test/crypto-errors';
import {
  assertValidSerial,
  generateSerial,
  hasValidSerialCheckDigits,
  isSerialWellFormed,
  serialCheckDigits,
  serialFromBytes,
  serialToBigInt,
  serialToBytes,
} from './serial';

const withCheck = (body: string) => body + serialCheckDigits(body);

/** Serials covering the edges: all zeros, all nines, a leading zero, and random ones. */
const SAMPLE_SERIALS = [
  withCheck('00000000000000'),
  withCheck('99999999999999'),
  withCheck('01234567890123'),
  ...Array.from({ length: 40 }, () => generateSerial()),
];

describe('ISO 7064 MOD 97-10 check digits', () => {
  it('matches the ISO 7064 example (794 → 44) and the IBAN rule', () => {
    expect(serialCheckDigits('794')).toBe('44');
    expect(withCheck('00000000000000')).toBe('0000000000000098');
    for (const serial of SAMPLE_SERIALS) expect(BigInt(serial) % 97n).toBe(1n);
  });

  it('always gives two digits', () => {
    // 02 is the smallest check value: find a body whose check needs a leading zero.
    const bodies = Array.from({ length: 2000 }, (_, i) => String(i).padStart(14, '0'));
    const checks = new Set(bodies.map(serialCheckDigits));
    for (const check of checks) expect(check).toMatch(/^[0-9]{2}$/);
    expect([...checks].some((check) => check.startsWith('0'))).toBe(true);
  });

  it.each(SAMPLE_SERIALS)('detects every single-digit substitution in %s', (serial) => {
    expect(hasValidSerialCheckDigits(serial)).toBe(true);
    for (let position = 0; position < 16; position++) {
      for (let digit = 0; digit <= 9; digit++) {
        if (serial[position] === String(digit)) continue;
        const typo = serial.slice(0, position) + digit + serial.slice(position + 1);
        expect(hasValidSerialCheckDigits(typo), typo).toBe(false);
      }
    }
  });

  it.each(SAMPLE_SERIALS)('detects every adjacent transposition in %s', (serial) => {
    for (let position = 0; position < 15; position++) {
      if (serial[position] === serial[position + 1]) continue; // swapping equal digits is no error
      const typo =
        serial.slice(0, position) +
        serial[position + 1] +
        serial[position] +
        serial.slice(position + 2);
      expect(hasValidSerialCheckDigits(typo), typo).toBe(false);
    }
  });
});

describe('generateSerial', () => {
  it('yields 16 digits with valid check digits, leading zeros kept', () => {
    const serials = Array.from({ length: 5000 }, () => generateSerial());
    for (const serial of serials) {
      expect(serial).toMatch(/^[0-9]{16}$/);
      expect(hasValidSerialCheckDigits(serial)).toBe(true);
    }
    // Uniform over 10^14: every leading digit appears (P(miss one) ≈ 10 · 0.9^5000).
    expect(new Set(serials.map((s) => s[0])).size).toBe(10);
    expect(new Set(serials).size).toBe(serials.length);
  });
});

describe('validation', () => {
  it('knows a well-formed serial', () => {
    expect(isSerialWellFormed('0123456789012345')).toBe(true);
    for (const bad of [
      '',
      '123456789012345',
      '12345678901234567',
      '1234 5678 9012 3456',
      '١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦', // Arabic-Indic digits are not ASCII digits
      '123456789012345a',
      12345678901234,
    ]) {
      expect(isSerialWellFormed(bad)).toBe(false);
    }
  });

  it('asserts with the right code', () => {
    const serial = SAMPLE_SERIALS[3]!;
    expect(assertValidSerial(serial)).toBe(serial);
    expectCryptoError(() => assertValidSerial('123'), 'invalid_serial');
    const typo = serial.slice(0, 15) + String((Number(serial[15]) + 1) % 10);
    expectCryptoError(() => assertValidSerial(typo), 'serial_check_failed');
  });
});

describe('56-bit codec', () => {
  it('round-trips and agrees with BigInt', () => {
    const serials = [
      ...SAMPLE_SERIALS,
      '0000000000000000',
      '0000000000000001',
      '9999999999999999',
      '0000000099999999',
      '0000000100000000',
      '9007199254740993', // 2^53 + 1: not exact as a double
    ];
    for (const serial of serials) {
      const bytes = serialToBytes(serial);
      expect(bytes).toHaveLength(7);
      const expected = serialToBigInt(serial).toString(16).padStart(14, '0');
      expect(Buffer.from(bytes).toString('hex')).toBe(expected);
      expect(serialFromBytes(bytes)).toBe(serial);
    }
  });

  it('reads at an offset', () => {
    const serial = SAMPLE_SERIALS[5]!;
    const bytes = new Uint8Array(12);
    bytes.set(serialToBytes(serial), 4);
    expect(serialFromBytes(bytes, 4)).toBe(serial);
    expect(serialFromBytes(bytes, 6)).toBeUndefined(); // runs past the end
  });

  it('refuses integers of 10^16 and more', () => {
    const asBytes = (value: bigint) =>
      new Uint8Array(Buffer.from(value.toString(16).padStart(14, '0'), 'hex'));
    expect(serialFromBytes(asBytes(10n ** 16n - 1n))).toBe('9999999999999999');
    expect(serialFromBytes(asBytes(10n ** 16n))).toBeUndefined();
    expect(serialFromBytes(asBytes(2n ** 56n - 1n))).toBeUndefined();
  });

  it('refuses a malformed serial', () => {
    expectCryptoError(() => serialToBytes('12345'), 'invalid_serial');
    expectCryptoError(() => serialToBigInt('x'), 'invalid_serial');
  });
});
