import { isCryptoError } from './errors';
import { decodeMarkCode, extractMarkCode, type DecodedMarkCode } from './mark-code-core';
import { hasValidSerialCheckDigits } from './serial';

/**
 * Reading what a person scanned or typed, and trying a mark's signature against candidate keys.
 * Pure and browser-safe (no `node:` import): the online verifier (POST /v1/verify/mark,
 * GET /m/{code}, through ../verification/mark-signature), the offline CLI (`certmark verify`) and the
 * browser bundle (./offline-mark) all read input and pick the signer with these functions, so they
 * cannot disagree.
 */

export type ScanInput =
  /** Not a mark at all (or an unknown version): a forgery, MALFORMED. */
  | { kind: 'malformed'; message: string }
  /** A typed serial whose ISO 7064 check digits fail: a typing error, answered 422. */
  | { kind: 'serial_check_failed'; serial: string }
  /** A typed serial with valid check digits: looked up directly, there is no signature to check. */
  | { kind: 'serial'; serial: string }
  /** A signed code (from a URL or bare), decoded but not yet verified. */
  | { kind: 'code'; serial: string; decoded: DecodedMarkCode };

export function readScanInput(input: string): ScanInput {
  const extracted = extractMarkCode(input);
  if (!extracted) {
    return {
      kind: 'malformed',
      message: 'not a certmark mark: neither a mark URL, a code nor a 16-digit serial',
    };
  }
  if (extracted.kind === 'serial') {
    return hasValidSerialCheckDigits(extracted.serial)
      ? { kind: 'serial', serial: extracted.serial }
      : { kind: 'serial_check_failed', serial: extracted.serial };
  }
  try {
    const decoded = decodeMarkCode(extracted.code);
    return { kind: 'code', serial: decoded.serial, decoded };
  } catch (error) {
    if (isCryptoError(error, 'unknown_mark_version')) {
      return {
        kind: 'malformed',
        message: 'the code is of a mark version this service does not know',
      };
    }
    if (isCryptoError(error))
      return { kind: 'malformed', message: `not a certmark mark: ${error.message}` };
    throw error;
  }
}

/** A public key that may have signed a mark: its 3-byte mark key id matched the code's. */
export interface MarkKeyCandidate {
  readonly kid: string;
  readonly publicKey: Uint8Array;
}

export type MarkSignatureCheck<K extends MarkKeyCandidate> =
  | { ok: true; key: K }
  | { ok: false; reason: 'UNKNOWN_KEY' | 'BAD_SIGNATURE' | 'MALFORMED'; message: string };

/** One Ed25519 check of the mark under one key (the online or the offline verifier). */
export type MarkSignatureVerifier = (decoded: DecodedMarkCode, publicKey: Uint8Array) => boolean;

/**
 * Whether one of `candidates` signed the mark. The code carries only 3 bytes of the key id, so two
 * published keys may share them (a 1 in 2^24 chance per pair): every candidate is tried, and the
 * first whose signature holds is the signer. No candidate at all is UNKNOWN_KEY (the caller passes
 * only published keys: a compromised key is not one); candidates that all fail are BAD_SIGNATURE,
 * whichever signed bytes were altered (a serial whose check digits an alteration broke included).
 * A signature that holds over a serial whose check digits fail is MALFORMED: no certmark issuer
 * makes one, so it is never a mark, whoever signed it.
 */
export function findMarkSigner<K extends MarkKeyCandidate>(
  decoded: DecodedMarkCode,
  candidates: readonly K[],
  verify: MarkSignatureVerifier,
): MarkSignatureCheck<K> {
  if (candidates.length === 0) {
    return {
      ok: false,
      reason: 'UNKNOWN_KEY',
      message: 'no published certmark key has this mark’s key id',
    };
  }
  const signer = candidates.find((key) => verify(decoded, key.publicKey));
  if (!signer) {
    return { ok: false, reason: 'BAD_SIGNATURE', message: 'the mark’s signature does not verify' };
  }
  if (!decoded.serialCheckDigitsValid) {
    return {
      ok: false,
      reason: 'MALFORMED',
      message: 'not a certmark mark: its serial’s check digits (ISO 7064 MOD 97-10) fail',
    };
  }
  return { ok: true, key: signer };
}

/** The serial as printed under a label, in groups of four: "1234 5678 9012 3456". */
export function groupSerial(serial: string, separator = ' '): string {
  return serial.replace(/(\d{4})(?=\d)/g, `$1${separator}`);
}
