/**
 * The one error type of the pure crypto module. Its `code` is a closed union so callers (and
 * tests) branch on the code, never on message text; messages name the offending field.
 *
 * The module never answers HTTP itself: a service maps these codes to its own error table
 * (`serial_check_failed` → 422, `malformed_mark` → a `MALFORMED` verification reason, …).
 */
export const CRYPTO_ERROR_CODES = [
  /** A seed (Ed25519 private key, RFC 8032 section 5.1.5) that is not exactly 32 bytes. */
  'invalid_seed',
  /** A public key of the wrong length or not the encoding of a curve point. */
  'invalid_public_key',
  /** A public key whose encoding is not the unique one (RFC 8032 section 5.1.3: y >= p, or -0). */
  'non_canonical_key',
  /** A public key of small order (one of the 8 torsion points): it verifies forged signatures. */
  'small_order_key',
  /** A `kid` that is not an RFC 7638 SHA-256 thumbprint in base64url. */
  'invalid_key_id',
  /** A mark serial that is not 16 decimal digits. */
  'invalid_serial',
  /** A mark serial whose ISO 7064 MOD 97-10 check digits fail (a typing error). */
  'serial_check_failed',
  /** Not a compact mark at all: length, alphabet, serial range or check digits wrong. */
  'malformed_mark',
  /** A compact mark whose version byte this code does not know. */
  'unknown_mark_version',
  /** A symmetric key of the wrong length for its cipher (FF1's AES, the serial key). */
  'invalid_key',
  /** An FF1 input or a serial position outside the domain the cipher is set up for. */
  'invalid_cipher_input',
] as const;

export type CryptoErrorCode = (typeof CRYPTO_ERROR_CODES)[number];

export class CryptoError extends Error {
  override readonly name = 'CryptoError';
  readonly code: CryptoErrorCode;

  constructor(code: CryptoErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** True when `error` is a CryptoError (with the given code, when one is given). */
export function isCryptoError(error: unknown, code?: CryptoErrorCode): error is CryptoError {
  return error instanceof CryptoError && (code === undefined || error.code === code);
}
