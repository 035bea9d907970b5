import { CryptoError } from './errors';

/**
 * Mark serials (SPEC "Product marks"): 16 decimal digits, 14 random ones followed by two
 * ISO 7064 MOD 97-10 check digits (the IBAN scheme, ISO 13616): check = 98 - (n * 100 mod 97), so
 * the whole 16-digit number is 1 mod 97. MOD 97-10 detects every single-digit substitution and
 * every transposition of adjacent digits, the two commonest errors of a person typing a label.
 *
 * A serial is a digit string: a leading 0 is a digit like any other and is kept.
 */

export const SERIAL_LENGTH = 16;
const RANDOM_DIGITS = 14;
/** 10^14 < 2^47: drawn uniformly from 47 random bits, by rejection (accepts ~71% of draws). */
const RANDOM_RANGE = 1e14;
const TWO_32 = 0x100000000;
/** Bytes of a serial in a compact mark: 10^16 < 2^56. */
export const SERIAL_BYTES = 7;

const SERIAL_PATTERN = /^[0-9]{16}$/;

/**
 * The remainder mod 97 of a decimal digit string, nine digits at a time: the running value stays
 * below 97 * 10^9, far inside the 2^53 of exact double arithmetic.
 */
function mod97(digits: string): number {
  let remainder = 0;
  for (let start = 0; start < digits.length; start += 9) {
    const chunk = digits.slice(start, start + 9);
    remainder = (remainder * 10 ** chunk.length + Number(chunk)) % 97;
  }
  return remainder;
}

/** ISO 7064 MOD 97-10 check digits for a string of digits (always two digits, 02…98). */
export function serialCheckDigits(digits: string): string {
  if (typeof digits !== 'string' || !/^[0-9]+$/.test(digits)) {
    throw new CryptoError('invalid_serial', 'serial digits must be decimal digits');
  }
  const check = 98 - mod97(digits + '00');
  return check < 10 ? `0${check}` : String(check);
}

/**
 * Random 32-bit words from the Web Crypto CSPRNG (the global `crypto.getRandomValues` of Node 20
 * and browsers), drawn 1,024 at a time: one call per serial would cost a fifth of bulk issuance.
 */
const randomPool = new Uint32Array(1024);
let randomPoolNext = randomPool.length;

function randomWord(): number {
  if (randomPoolNext === randomPool.length) {
    crypto.getRandomValues(randomPool);
    randomPoolNext = 0;
  }
  return randomPool[randomPoolNext++]!;
}

/**
 * A uniform random integer in [0, 10^14): 47 random bits, redrawn when >= 10^14 so that no value is
 * likelier than another (a modulo would favour the low ones). 15 + 32 bits stay below 2^53.
 */
function randomBody(): number {
  for (;;) {
    const value = (randomWord() & 0x7fff) * TWO_32 + randomWord();
    if (value < RANDOM_RANGE) return value;
  }
}

/** A uniformly random serial with valid check digits (OS CSPRNG, through Web Crypto). */
export function generateSerial(): string {
  const body = String(randomBody()).padStart(RANDOM_DIGITS, '0');
  return body + serialCheckDigits(body);
}

/** Exactly 16 ASCII decimal digits (check digits not examined). */
export function isSerialWellFormed(serial: unknown): serial is string {
  return typeof serial === 'string' && SERIAL_PATTERN.test(serial);
}

/** Well formed and its MOD 97-10 check holds (the number is 1 mod 97). */
export function hasValidSerialCheckDigits(serial: unknown): serial is string {
  return isSerialWellFormed(serial) && mod97(serial) === 1;
}

/**
 * Returns the serial when it is well formed with valid check digits. Throws 'invalid_serial' when
 * it is not 16 digits, 'serial_check_failed' when its check digits fail (a typing error; SPEC
 * answers it with 422, never as a forgery).
 */
export function assertValidSerial(serial: string): string {
  if (!isSerialWellFormed(serial)) {
    throw new CryptoError('invalid_serial', 'serial must be 16 decimal digits');
  }
  if (mod97(serial) !== 1) {
    throw new CryptoError('serial_check_failed', 'serial check digits (ISO 7064 MOD 97-10) fail');
  }
  return serial;
}

/** The serial as an integer (for storage or display arithmetic); leading zeros are dropped. */
export function serialToBigInt(serial: string): bigint {
  if (!isSerialWellFormed(serial)) {
    throw new CryptoError('invalid_serial', 'serial must be 16 decimal digits');
  }
  return BigInt(serial);
}

// The 56-bit codec splits the number so that every intermediate stays below 2^53 (a 16-digit
// number does not fit a double exactly) without BigInt, which is several times slower:
//   v = hi * 10^8 + lo = (hi * 390625 + floor(lo / 256)) * 256 + (lo mod 256),   10^8 = 390625 * 256
// so v = b * 256 + c with b < 2^48 (six bytes) and c one byte.
const TWO_24 = 0x1000000;

/**
 * Writes a well-formed serial as a 56-bit unsigned big-endian integer into target[offset..+7).
 * The caller has validated the serial.
 */
export function writeSerialBytes(serial: string, target: Uint8Array, offset: number): void {
  const hi = Number(serial.slice(0, 8));
  const lo = Number(serial.slice(8, 16));
  const b = hi * 390625 + Math.floor(lo / 256);
  const bHigh = Math.floor(b / TWO_24);
  const bLow = b % TWO_24;
  target[offset] = (bHigh >>> 16) & 0xff;
  target[offset + 1] = (bHigh >>> 8) & 0xff;
  target[offset + 2] = bHigh & 0xff;
  target[offset + 3] = (bLow >>> 16) & 0xff;
  target[offset + 4] = (bLow >>> 8) & 0xff;
  target[offset + 5] = bLow & 0xff;
  target[offset + 6] = lo & 0xff;
}

/** The 7 big-endian bytes of a serial. */
export function serialToBytes(serial: string): Uint8Array {
  if (!isSerialWellFormed(serial)) {
    throw new CryptoError('invalid_serial', 'serial must be 16 decimal digits');
  }
  const bytes = new Uint8Array(SERIAL_BYTES);
  writeSerialBytes(serial, bytes, 0);
  return bytes;
}

/**
 * Reads a 56-bit big-endian serial from bytes[offset..+7): the 16-digit string (leading zeros
 * kept), or undefined when the integer is 10^16 or more and so no serial at all. Check digits
 * are not examined here.
 */
export function serialFromBytes(bytes: Uint8Array, offset = 0): string | undefined {
  if (offset < 0 || bytes.length < offset + SERIAL_BYTES) return undefined;
  const bHigh = (bytes[offset]! << 16) | (bytes[offset + 1]! << 8) | bytes[offset + 2]!;
  const bLow = (bytes[offset + 3]! << 16) | (bytes[offset + 4]! << 8) | bytes[offset + 5]!;
  const c = bytes[offset + 6]!;
  const b = bHigh * TWO_24 + bLow;
  const hi = Math.floor(b / 390625);
  if (hi >= 1e8) return undefined;
  const lo = (b % 390625) * 256 + c;
  return String(hi).padStart(8, '0') + String(lo).padStart(8, '0');
}
