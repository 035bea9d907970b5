import { createPrivateKey, type KeyObject } from 'node:crypto';
import { CompactSign } from 'jose';
import { verifyEd25519 } from './ed25519';
import {
  parseCredentialJws as parseWith,
  type Base64urlDecoder,
  type ParsedCredentialJws,
  type ParseResult,
} from './credential-jws-core';

export {
  MAX_CREDENTIAL_LENGTH,
  type CredentialFormatProblem,
  type CredentialPolicyViolation,
  type ParsedCredentialJws,
  type ParseResult,
} from './credential-jws-core';

const B64URL = /^[A-Za-z0-9_-]*$/;
const B64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Strict base64url: no padding, and the canonical encoding of what it decodes to. Given the
 * alphabet and a length that is not 1 mod 4, the only other encoding of the same bytes differs in
 * the unused low bits of the last character (RFC 4648 section 3.5): 4 of them after 2 characters
 * of a group, 2 after 3. They must be zero; that is the whole canonical check, without encoding
 * the bytes again to compare.
 */
export const decodeB64url: Base64urlDecoder = (segment) => {
  const rest = segment.length % 4;
  if (rest === 1 || !B64URL.test(segment)) return null;
  if (rest !== 0) {
    const last = B64URL_ALPHABET.indexOf(segment[segment.length - 1]!);
    if ((last & (rest === 2 ? 0b1111 : 0b11)) !== 0) return null;
  }
  const bytes = Buffer.from(segment, 'base64url');
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
};

export function parseCredentialJws(jws: string): ParseResult {
  return parseWith(jws, decodeB64url);
}

/**
 * Credentials as compact JWS (RFC 7515) with VC-JOSE-COSE: protected header
 * `{ alg: "EdDSA", typ: "vc+jwt", cty: "vc", kid }` (§3.1.1: `cty` SHOULD be `vc` when present).
 * The reading rules are in ./credential-jws-core (shared with the offline verifier); here the
 * service reads with node's `Buffer`, verifies, and signs.
 */

/** The same strict Ed25519 rule as every other path (vectors in test/vectors). */
export function verifyCredentialSignature(
  parsed: ParsedCredentialJws,
  publicKey: Uint8Array,
): boolean {
  return verifyEd25519(publicKey, parsed.signingInput, parsed.signature);
}

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const privateKeys = new Map<string, KeyObject>();

function privateKeyObject(kid: string, seed: Uint8Array): KeyObject {
  let key = privateKeys.get(kid);
  if (!key) {
    key = createPrivateKey({
      key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
      format: 'der',
      type: 'pkcs8',
    });
    if (privateKeys.size >= 256) privateKeys.clear();
    privateKeys.set(kid, key);
  }
  return key;
}

/**
 * Signs any document certmark publishes as a compact JWS with jose: EdDSA, the given `typ`, the
 * signer's `kid` (an offline bundle: `certmark-offline-bundle+jwt`, by the transparency log's key).
 */
export async function signJws(
  payload: Record<string, unknown>,
  typ: string,
  signer: { kid: string; seed: Uint8Array },
): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'EdDSA', typ, kid: signer.kid })
    .sign(privateKeyObject(signer.kid, signer.seed));
}

/** Signs a credential payload as `vc+jwt` (content type `vc`) with jose. */
export async function signCredentialJws(
  payload: Record<string, unknown>,
  signer: { kid: string; seed: Uint8Array },
): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'EdDSA', typ: 'vc+jwt', cty: 'vc', kid: signer.kid })
    .sign(privateKeyObject(signer.kid, signer.seed));
}
