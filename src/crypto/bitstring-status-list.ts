import { base64urlnopad } from '@scure/base';
import { Gunzip } from 'fflate';

/**
 * W3C Bitstring Status List v1.0, the bits themselves: index 0 is the left-most bit of the
 * bitstring (the most significant bit of its first byte, §3.2 `encodedList` and §6.1 "Bitstring
 * Encoding"), and `encodedList` is the multibase (`u`, base64url without padding) GZIP of the
 * bytes. Pure JavaScript (`fflate`, `@scure/base`), no `node:` import: the offline verifier in a
 * browser decodes lists with this very module. The service encodes with node:zlib
 * (../status-lists/encoded-list).
 */

/** §3.2 "Validate Algorithm": fewer entries than this is a STATUS_LIST_LENGTH_ERROR (herd privacy). */
export const MIN_STATUS_LIST_LENGTH = 131_072;

/** The multibase prefix of base64url without padding. */
const MULTIBASE_BASE64URL = 'u';

/** A decoded list may not claim more than this (a 64 MiB bitstring): a GZIP bomb is refused. */
const MAX_DECODED_BYTES = 64 * 1024 * 1024;

/** The bytes of an empty list of `length` entries (one bit each), rounded up to whole bytes. */
export function emptyBitstring(length: number): Uint8Array {
  return new Uint8Array(Math.ceil(length / 8));
}

/** The status bit of entry `index`: true when set (revoked, suspended, void). */
export function getStatusBit(bits: Uint8Array, index: number): boolean {
  const byte = bits[index >>> 3];
  if (!Number.isInteger(index) || index < 0 || byte === undefined)
    throw new RangeError(`status list index ${index} is outside a list of ${bits.length * 8}`);
  return (byte & (0x80 >>> (index & 7))) !== 0;
}

/** Sets or clears the bit of entry `index` in place. */
export function setStatusBit(bits: Uint8Array, index: number, value: boolean): void {
  getStatusBit(bits, index); // the range check
  const mask = 0x80 >>> (index & 7);
  bits[index >>> 3] = value ? bits[index >>> 3]! | mask : bits[index >>> 3]! & ~mask;
}

/**
 * PostgreSQL's `set_bit`/`get_bit` number bits from the least significant bit of each byte; the
 * spec counts from the most significant. The bit number PostgreSQL calls entry `index`.
 */
export function postgresBitNumber(index: number): number {
  return (index >>> 3) * 8 + (7 - (index & 7));
}

/** Thrown for an `encodedList` that is not multibase base64url GZIP (a MALFORMED_VALUE_ERROR). */
export class EncodedListError extends Error {
  override readonly name = 'EncodedListError';
}

/** The bitstring of an `encodedList` (§3.5 "Bitstring Expansion Algorithm"). */
export function decodeEncodedList(encodedList: string): Uint8Array {
  if (typeof encodedList !== 'string' || !encodedList.startsWith(MULTIBASE_BASE64URL))
    throw new EncodedListError('encodedList is not multibase base64url (prefix "u")');
  let compressed: Uint8Array;
  try {
    compressed = base64urlnopad.decode(encodedList.slice(1));
  } catch {
    throw new EncodedListError('encodedList is not base64url without padding');
  }
  // GZIP (RFC 1952 §2.3.1): the last four bytes are the input size modulo 2^32.
  if (compressed.length < 18 || compressed[0] !== 0x1f || compressed[1] !== 0x8b)
    throw new EncodedListError('encodedList is not GZIP');
  const view = new DataView(compressed.buffer, compressed.byteOffset, compressed.byteLength);
  const declared = view.getUint32(compressed.length - 4, true);
  if (declared > MAX_DECODED_BYTES) throw new EncodedListError('encodedList is too large');
  // Inflated as a stream and counted: a trailer that lies about the size cannot make it grow past
  // the limit, nor be silently cut short.
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    const gunzip = new Gunzip((chunk) => {
      total += chunk.length;
      if (total > MAX_DECODED_BYTES) throw new EncodedListError('encodedList is too large');
      chunks.push(chunk);
    });
    gunzip.push(compressed, true);
  } catch (error) {
    if (error instanceof EncodedListError) throw error;
    throw new EncodedListError('encodedList does not decompress');
  }
  if (total !== declared) throw new EncodedListError('encodedList does not match its GZIP trailer');
  const bits = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bits.set(chunk, offset);
    offset += chunk.length;
  }
  return bits;
}

/** `encodedList` from already GZIP-compressed bitstring bytes. */
export function multibaseBase64url(compressed: Uint8Array): string {
  return MULTIBASE_BASE64URL + base64urlnopad.encode(compressed);
}
