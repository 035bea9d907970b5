import {
  verifyMarkSignature,
  type DecodedMarkCode,
  type MarkVerifyOptions,
} from '../crypto/mark-code';
import { verifyEd25519ByOpenssl } from '../crypto/ed25519';
import {
  findMarkSigner,
  type MarkKeyCandidate,
  type MarkSignatureCheck,
} from '../crypto/mark-scan';

/**
 * Reading what a person scanned or typed, and checking a mark's signature against candidate keys.
 * Pure (no database, no HTTP): the online verifier (POST /v1/verify/mark, GET /m/{code}) and the
 * offline CLI (`certmark verify`) call exactly these functions, so they cannot disagree. The
 * browser-safe part lives in ../crypto/mark-scan (re-exported here); this module adds the choice
 * of the online (OpenSSL) or offline (pure-JS) verifier.
 */
export {
  groupSerial,
  readScanInput,
  type MarkKeyCandidate,
  type MarkSignatureCheck,
  type ScanInput,
} from '../crypto/mark-scan';

/**
 * Whether one of `candidates` signed the mark. The code carries only 3 bytes of the key id, so two
 * published keys may share them (a 1 in 2^24 chance per pair): every candidate is tried, and the
 * first whose signature holds is the signer. No candidate at all is UNKNOWN_KEY (the caller passes
 * only published keys: a compromised key is not one); candidates that all fail are BAD_SIGNATURE.
 * `offline` selects the pure-JS verifier of the browser and the CLI; both give the same answers.
 */
export function checkMarkSignature<K extends MarkKeyCandidate>(
  decoded: DecodedMarkCode,
  candidates: readonly K[],
  options: MarkVerifyOptions = {},
): MarkSignatureCheck<K> {
  return findMarkSigner(decoded, candidates, (d, publicKey) =>
    verifyMarkSignature(d, publicKey, options),
  );
}

/**
 * {@link checkMarkSignature} by OpenSSL alone: `ok` and UNKNOWN_KEY are final, BAD_SIGNATURE is
 * final unless noble's cofactored rule would accept a signature crafted by a key's holder (see
 * verifyEd25519ByOpenssl). The caller re-checks with checkMarkSignature only where that could
 * change the verdict: a forger's fresh serial costs one OpenSSL verification, not also noble's.
 */
export function checkMarkSignatureByOpenssl<K extends MarkKeyCandidate>(
  decoded: DecodedMarkCode,
  candidates: readonly K[],
): MarkSignatureCheck<K> {
  return findMarkSigner(decoded, candidates, (d, publicKey) =>
    verifyEd25519ByOpenssl(publicKey, d.signedMessage, d.signature),
  );
}
