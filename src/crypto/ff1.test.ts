import { randomBytes } from 'node:crypto';
import { FF1 as nobleFf1 } from '@noble/ciphers/ff1.js';
import { describe, expect, it } from 'vitest';
import { Ff1 } from './ff1';

const hex = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));
const numerals = (text: string, radix: number) => [...text].map((c) => parseInt(c, radix));
const text = (values: number[], radix: number) => values.map((v) => v.toString(radix)).join('');

const AES128 = '2B7E151628AED2A6ABF7158809CF4F3C';
const AES192 = `${AES128}EF4359D8D580AA4F`;
const AES256 = `${AES192}7F036D6F04FC6A94`;

/** NIST's FF1 samples (SP 800-38G examples, FF1samples.pdf): key, tweak, radix, PT, CT. */
const NIST_SAMPLES = [
  [1, AES128, '', 10, '0123456789', '2433477484'],
  [2, AES128, '39383736353433323130', 10, '0123456789', '6124200773'],
  [3, AES128, '3737373770717273373737', 36, '0123456789abcdefghi', 'a9tv40mll9kdu509eum'],
  [4, AES192, '', 10, '0123456789', '2830668132'],
  [5, AES192, '39383736353433323130', 10, '0123456789', '2496655549'],
  [6, AES192, '3737373770717273373737', 36, '0123456789abcdefghi', 'xbj3kv35jrawxv32ysr'],
  [7, AES256, '', 10, '0123456789', '6657667009'],
  [8, AES256, '39383736353433323130', 10, '0123456789', '1001623463'],
  [9, AES256, '3737373770717273373737', 36, '0123456789abcdefghi', 'xs8a0azh2avyalyzuwd'],
] as const;

describe('FF1 (NIST SP 800-38G)', () => {
  it.each(NIST_SAMPLES)('sample %i encrypts and decrypts', (_, key, tweak, radix, pt, ct) => {
    const ff1 = new Ff1(hex(key), radix, hex(tweak));
    expect(text(ff1.encrypt(numerals(pt, radix)), radix)).toBe(ct);
    expect(text(ff1.decrypt(numerals(ct, radix)), radix)).toBe(pt);
  });

  it('agrees with @noble/ciphers on random keys, tweaks and 14-digit inputs', () => {
    for (let run = 0; run < 200; run++) {
      const key = randomBytes([16, 24, 32][run % 3]!);
      const tweak = randomBytes(run % 20);
      const input = Array.from(randomBytes(14), (b) => b % 10);
      const ours = new Ff1(key, 10, tweak);
      const theirs = nobleFf1(10, key, tweak);
      const encrypted = ours.encrypt(input);
      expect(encrypted).toEqual(theirs.encrypt(input));
      expect(ours.decrypt(encrypted)).toEqual(input);
    }
  });

  it('encrypts and decrypts many inputs side by side as it does one at a time', () => {
    const ff1 = new Ff1(randomBytes(32), 10, randomBytes(19));
    const inputs = Array.from({ length: 65 }, () => Array.from(randomBytes(14), (b) => b % 10));
    const encrypted = ff1.encryptAll(inputs);
    expect(encrypted).toEqual(inputs.map((x) => ff1.encrypt(x)));
    expect(ff1.decryptAll(encrypted)).toEqual(inputs);
    expect(() => ff1.decryptAll([inputs[0]!, inputs[1]!.slice(1)])).toThrow(/one length/);
  });

  it('refuses what it cannot encrypt', () => {
    expect(() => new Ff1(randomBytes(20), 10)).toThrow(/AES key/);
    expect(() => new Ff1(randomBytes(16), 1)).toThrow(/radix/);
    const ff1 = new Ff1(randomBytes(16), 10);
    expect(() => ff1.encrypt([1, 2, 3, 4, 5])).toThrow(/radix\^n/);
    expect(() => ff1.encrypt([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])).toThrow(/numerals/);
  });
});
