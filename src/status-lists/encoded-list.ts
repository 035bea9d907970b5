import { gzipSync } from 'node:zlib';
import { multibaseBase64url } from '../crypto/bitstring-status-list';

/**
 * §3.4 "Bitstring Generation Algorithm": GZIP (RFC 1952) of the bitstring, multibase base64url.
 * node:zlib writes no file name and a zero modification time, so the same bits give the same
 * bytes on every instance (and the same signed list, and the same ETag).
 */
export function encodeStatusList(bits: Uint8Array): string {
  return multibaseBase64url(new Uint8Array(gzipSync(bits, { level: 9 })));
}
