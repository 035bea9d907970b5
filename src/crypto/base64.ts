/**
 * Standard base64 (RFC 4648 §4, padded), as the transparency log's formats spell hashes, keys and
 * signatures (C2SP signed-note and tlog-checkpoint, the JSON checkpoint and proofs).
 */

/** The base64 of `bytes`, whatever view of a buffer they are. */
export const toBase64 = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

/** Strict base64 (RFC 4648 §4, padded): the alphabet, the length and the padding. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes strict base64, or undefined (Node's decoder would skip what it cannot read). */
export function decodeStrictBase64(value: string): Uint8Array | undefined {
  if (!BASE64.test(value)) return undefined;
  return new Uint8Array(Buffer.from(value, 'base64'));
}

/**
 * Decodes base64 of exactly `length` bytes in its one canonical spelling (unused padding bits
 * zero), or undefined: a checkpoint, a hash or a signature then has one form only.
 */
export function decodeCanonicalBase64(value: unknown, length: number): Uint8Array | undefined {
  if (typeof value !== 'string') return undefined;
  const bytes = decodeStrictBase64(value);
  return bytes && bytes.length === length && toBase64(bytes) === value ? bytes : undefined;
}
