import { base32nopad } from '@scure/base';
import { MARK_KEY_ID_LENGTH, verifyEd25519Offline } from './ed25519-core';
import { CryptoError } from './errors';
import { hasValidSerialCheckDigits, SERIAL_BYTES, SERIAL_LENGTH, serialFromBytes } from './serial';

/**
 * The compact signed mark (SPEC "Product marks"), one canonical encoding: its browser-safe half
 * (layout, decoding, reading scanned input, the offline signature check). No `node:` import;
 * `./mark-code` adds signing and the online check and re-exports everything public here.
 *
 * Payload, 75 bytes:
 *   [0]       version, 1
 *   [1..3]    mark key id: first 3 bytes of the signing key's RFC 7638 thumbprint (markKeyId)
 *   [4..10]   serial, 56-bit unsigned big-endian
 *   [11..74]  Ed25519 signature (RFC 8032) over MARK_SIGNATURE_DOMAIN || 0x00 || payload[0..10]
 *
 * Code: the payload in upper-case RFC 4648 section 6 base32 without padding. 75 bytes are 600
 * bits, exactly 120 characters with no pad bits, so every payload has one code and vice versa.
 * Upper case keeps the URL in QR alphanumeric mode: base URL (<= 30) + "/m/" + 120 <= 154, the
 * capacity of QR version 6 at level M.
 */

export const MARK_VERSION = 1;
export const MARK_PAYLOAD_LENGTH = 75;
export const MARK_CODE_LENGTH = 120;

/**
 * Domain separation of the mark signature. The same issuer key signs credentials (JWS, RFC 7515
 * section 5.1), whose signing input is ASCII base64url text and "."; this prefix contains '/' and
 * a 0x00 byte, neither of which a JWS signing input can hold, so a credential signature never
 * verifies as a mark and a mark signature never verifies as a credential.
 */
export const MARK_SIGNATURE_DOMAIN = 'certmark/mark/v1';
/** Internal: the signing side in ./mark-code writes the same layout. */
export const DOMAIN_PREFIX = new TextEncoder().encode(`${MARK_SIGNATURE_DOMAIN}\0`);

export const VERSION_OFFSET = 0;
export const KEY_ID_OFFSET = 1;
export const SERIAL_OFFSET = KEY_ID_OFFSET + MARK_KEY_ID_LENGTH;
export const SIGNATURE_OFFSET = SERIAL_OFFSET + SERIAL_BYTES; // 11: the signed header ends here
export const SIGNED_MESSAGE_LENGTH = DOMAIN_PREFIX.length + SIGNATURE_OFFSET;

/** Any-case base32 of exactly one code, checked BEFORE upper-casing: String#toUpperCase maps
 * some non-ASCII letters onto ASCII ('ı' → 'I', 'ſ' → 'S'), which would admit a second spelling. */
const CODE_ANY_CASE = /^[A-Za-z2-7]{120}$/;

export interface DecodedMarkCode {
  readonly version: typeof MARK_VERSION;
  /** 3 bytes; several keys may share it, try each. */
  readonly keyId: Uint8Array;
  /** 16 digits. */
  readonly serial: string;
  /**
   * Whether the serial's ISO 7064 check digits hold. A genuine mark's always do; a code whose do
   * not is judged after its signature (findMarkSigner in ./mark-scan): altered signed bytes are
   * BAD_SIGNATURE wherever the alteration falls.
   */
  readonly serialCheckDigitsValid: boolean;
  readonly signature: Uint8Array;
  /** The exact bytes the signature is over (domain prefix and payload bytes 0..10). */
  readonly signedMessage: Uint8Array;
}

function malformed(message: string, cause?: unknown): CryptoError {
  return new CryptoError('malformed_mark', message, cause === undefined ? undefined : { cause });
}

/**
 * Parses a code (any letter case) into its parts, without checking the signature or the serial's
 * check digits (`serialCheckDigitsValid` says). Throws 'malformed_mark' when it is not a mark at
 * all (length, alphabet, a serial beyond 16 digits) and 'unknown_mark_version' for a version byte
 * other than 1.
 */
export function decodeMarkCode(code: string): DecodedMarkCode {
  if (typeof code !== 'string') throw malformed('code must be a string');
  if (code.length !== MARK_CODE_LENGTH) {
    throw malformed(`code must be ${MARK_CODE_LENGTH} base32 characters, got ${code.length}`);
  }
  if (!CODE_ANY_CASE.test(code)) {
    throw malformed('code must use only the RFC 4648 base32 alphabet A-Z 2-7, without padding');
  }
  let payload: Uint8Array;
  try {
    payload = base32nopad.decode(code.toUpperCase());
  } catch (cause) {
    throw malformed('code is not valid RFC 4648 base32', cause);
  }
  if (payload.length !== MARK_PAYLOAD_LENGTH) {
    throw malformed(`code must hold ${MARK_PAYLOAD_LENGTH} bytes, got ${payload.length}`);
  }
  const version = payload[VERSION_OFFSET];
  if (version !== MARK_VERSION) {
    throw new CryptoError('unknown_mark_version', `code version ${version} is not supported`);
  }
  const serial = serialFromBytes(payload, SERIAL_OFFSET);
  if (serial === undefined) throw malformed('code serial exceeds 16 decimal digits');
  const signedMessage = new Uint8Array(SIGNED_MESSAGE_LENGTH);
  signedMessage.set(DOMAIN_PREFIX, 0);
  signedMessage.set(payload.subarray(0, SIGNATURE_OFFSET), DOMAIN_PREFIX.length);
  return {
    version: MARK_VERSION,
    keyId: payload.subarray(KEY_ID_OFFSET, SERIAL_OFFSET),
    serial,
    serialCheckDigitsValid: hasValidSerialCheckDigits(serial),
    signature: payload.subarray(SIGNATURE_OFFSET),
    signedMessage,
  };
}

export interface MarkVerifyOptions {
  /** Use the pure-JS verifier a browser or the offline CLI uses (same answers, slower). */
  readonly offline?: boolean;
}

/**
 * Whether the mark's signature holds under `publicKey`, by the pure-JS verifier of the browser
 * and the offline CLI (`@noble/ed25519`, zip215: false; same answers as the online one).
 */
export function verifyMarkSignatureOffline(
  decoded: DecodedMarkCode,
  publicKey: Uint8Array,
): boolean {
  return verifyEd25519Offline(publicKey, decoded.signedMessage, decoded.signature);
}

export type ExtractedMark = { kind: 'code'; code: string } | { kind: 'serial'; serial: string };

/** Longer input is not something a person typed or a QR code held (QR v40 < 4,300 chars). */
const MAX_INPUT_LENGTH = 4096;
/** 16 digits, maybe in groups separated by spaces or dashes ("1234 5678-9012 3456"). */
const TYPED_SERIAL = /^[0-9]+(?:[\s-]+[0-9]+)*$/;
const URL_CODE_MARKER = '/m/';
/** A serial as the consumer page's address carries it: its digits alone. */
const SERIAL_DIGITS = new RegExp(`^[0-9]{${SERIAL_LENGTH}}$`);

/** Printable ASCII: the only alphabet a mark URL or code is ever written in. */
const PRINTABLE_ASCII = /^[\x20-\x7E]*$/;

/**
 * What a person scanned or typed into the verifier: the mark URL (any letter case, anything
 * ending in `/m/<code>`, an optional trailing slash, query or fragment), a bare code, a 16-digit
 * serial, or the consumer page's address of one (`…/m/<serial>`). Returns the code upper-cased,
 * or the serial digits (check digits NOT examined: the caller answers a failed check as a typing
 * error), or null.
 *
 * One canonical encoding: a code or URL is ASCII, or it is not a mark. Unicode folding (NFKC)
 * would read 'Ａ' (full-width), '𝐀' (mathematical bold) and the like as 'A', so a look-alike
 * copy of a genuine code would verify as the genuine one. Only a typed serial is folded: full-width
 * digits and spaces are how a CJK input method types it, and a serial carries no signature.
 */
export function extractMarkCode(input: string): ExtractedMark | null {
  if (typeof input !== 'string' || input.length > MAX_INPUT_LENGTH) return null;
  let text = input.trim();
  if (text.length === 0) return null;
  if (!PRINTABLE_ASCII.test(text)) {
    const folded = text.normalize('NFKC').trim();
    if (!TYPED_SERIAL.test(folded)) return null;
    text = folded;
  }

  if (CODE_ANY_CASE.test(text)) return { kind: 'code', code: text.toUpperCase() };

  if (TYPED_SERIAL.test(text)) {
    const serial = text.replace(/[\s-]+/g, '');
    return serial.length === SERIAL_LENGTH ? { kind: 'serial', serial } : null;
  }

  let path = text;
  const queryOrFragment = path.search(/[?#]/);
  if (queryOrFragment >= 0) path = path.slice(0, queryOrFragment);
  if (path.endsWith('/')) path = path.slice(0, -1);
  const code = afterMarker(path, MARK_CODE_LENGTH);
  if (code !== null && CODE_ANY_CASE.test(code)) return { kind: 'code', code: code.toUpperCase() };
  // The consumer page's address with a serial (GET /m/{serial} answers it too): a typed serial.
  const serial = afterMarker(path, SERIAL_LENGTH);
  return serial !== null && SERIAL_DIGITS.test(serial) ? { kind: 'serial', serial } : null;
}

/** The last `length` characters of `path` when `/m/` (either case) stands right before them. */
function afterMarker(path: string, length: number): string | null {
  const tail = path.slice(-(URL_CODE_MARKER.length + length));
  if (tail.length !== URL_CODE_MARKER.length + length) return null;
  // Compared character by character: toLowerCase() maps some non-ASCII letters onto ASCII.
  const marker = tail.slice(0, URL_CODE_MARKER.length);
  if (marker !== URL_CODE_MARKER && marker !== URL_CODE_MARKER.toUpperCase()) return null;
  return tail.slice(URL_CODE_MARKER.length);
}
