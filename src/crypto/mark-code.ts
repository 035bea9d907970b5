import { base32nopad } from '@scure/base';
import { markKeyId, MARK_KEY_ID_LENGTH, signEd25519, verifyEd25519 } from './ed25519';
import {
  DOMAIN_PREFIX,
  KEY_ID_OFFSET,
  MARK_PAYLOAD_LENGTH,
  MARK_VERSION,
  SERIAL_OFFSET,
  SIGNATURE_OFFSET,
  SIGNED_MESSAGE_LENGTH,
  VERSION_OFFSET,
  verifyMarkSignatureOffline,
  type DecodedMarkCode,
  type MarkVerifyOptions,
} from './mark-code-core';
import { assertValidSerial, writeSerialBytes } from './serial';

/**
 * The compact signed mark (SPEC "Product marks"): signing and the online signature check (Node:
 * OpenSSL through ./ed25519). The layout, decoding and the offline check are in ./mark-code-core,
 * which a browser can bundle; everything public there is re-exported here.
 */
export {
  decodeMarkCode,
  extractMarkCode,
  MARK_CODE_LENGTH,
  MARK_PAYLOAD_LENGTH,
  MARK_SIGNATURE_DOMAIN,
  MARK_VERSION,
  verifyMarkSignatureOffline,
  type DecodedMarkCode,
  type ExtractedMark,
  type MarkVerifyOptions,
} from './mark-code-core';

export interface CreateMarkCodeInput {
  /** The issuer's Ed25519 seed (RFC 8032 section 5.1.5). */
  readonly seed: Uint8Array;
  /** The signing key's kid (its RFC 7638 thumbprint). */
  readonly kid: string;
  /** 16 digits with valid check digits. */
  readonly serial: string;
}

// createMarkCode runs ~25,000 times a second per core in bulk issuance. It is synchronous, so one
// scratch message and one scratch payload serve every call: the header is written once, straight
// into the message after the domain prefix, and copied once into the payload.
const messageScratch = new Uint8Array(SIGNED_MESSAGE_LENGTH);
messageScratch.set(DOMAIN_PREFIX, 0);
const headerScratch = messageScratch.subarray(DOMAIN_PREFIX.length);
const payloadScratch = new Uint8Array(MARK_PAYLOAD_LENGTH);
// A batch signs with one key: remember the last kid's decoded key id.
let lastKid: string | undefined;
let lastKeyId: Uint8Array = new Uint8Array(MARK_KEY_ID_LENGTH);

/** Signs one serial: the 120-character code. Throws CryptoError on a bad seed, kid or serial. */
export function createMarkCode({ seed, kid, serial }: CreateMarkCodeInput): string {
  if (kid !== lastKid) {
    lastKeyId = markKeyId(kid);
    lastKid = kid;
  }
  assertValidSerial(serial);
  headerScratch[VERSION_OFFSET] = MARK_VERSION;
  headerScratch.set(lastKeyId, KEY_ID_OFFSET);
  writeSerialBytes(serial, headerScratch, SERIAL_OFFSET);
  const signature = signEd25519(seed, messageScratch);
  payloadScratch.set(headerScratch, 0);
  payloadScratch.set(signature, SIGNATURE_OFFSET);
  return base32nopad.encode(payloadScratch);
}

/**
 * Whether the mark's signature holds under `publicKey`. The key id is inside the signed bytes, so
 * the caller picks candidate keys by `decoded.keyId` and tries each.
 */
export function verifyMarkSignature(
  decoded: DecodedMarkCode,
  publicKey: Uint8Array,
  options: MarkVerifyOptions = {},
): boolean {
  if (options.offline) return verifyMarkSignatureOffline(decoded, publicKey);
  return verifyEd25519(publicKey, decoded.signedMessage, decoded.signature);
}
