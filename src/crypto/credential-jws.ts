import { createPrivateKey, type KeyObject } from 'node:crypto';
import { CompactSign } from 'jose';
import { verifyEd25519 } from './ed25519';

/**
 * Credentials as compact JWS (RFC 7515) with VC-JOSE-COSE: protected header
 * `{ alg: "EdDSA", typ: "vc+jwt", cty: "vc", kid }` (§3.1.1: `cty` SHOULD be `vc` when present). Verification is deliberately narrower than JWS allows:
 * every header a forger could use to smuggle in a key or an algorithm is refused.
 */

/** A credential is a few KiB; anything far beyond is an attack on the parser, not a credential. */
export const MAX_CREDENTIAL_LENGTH = 64 * 1024;

const B64URL = /^[A-Za-z0-9_-]*$/;
/** Headers that carry or point at a key (RFC 7515 §4.1.3–4.1.6): trusting them lets anyone sign. */
const KEY_CARRYING_HEADERS = ['jwk', 'jku', 'x5u', 'x5c', 'x5t', 'x5t#S256'] as const;

export type CredentialFormatProblem =
  | 'too_long'
  | 'not_compact_jws'
  | 'bad_base64url'
  | 'bad_header_json'
  | 'bad_payload_json'
  | 'bad_signature_length'
  | 'missing_kid'
  | 'wrong_typ';

/** Header rules whose violation is an attack (refused as a bad signature, not mere garbage). */
export type CredentialPolicyViolation =
  'alg_not_eddsa' | 'key_in_header' | 'crit_not_understood' | 'unencoded_payload';

export interface ParsedCredentialJws {
  header: Record<string, unknown> & { kid: string };
  payload: Record<string, unknown>;
  signingInput: Uint8Array;
  signature: Uint8Array;
}

export type ParseResult =
  | { ok: true; value: ParsedCredentialJws }
  | { ok: false; kind: 'format'; problem: CredentialFormatProblem }
  | { ok: false; kind: 'policy'; problem: CredentialPolicyViolation };

/** Strict base64url: no padding, and the canonical encoding of what it decodes to. */
function decodeB64url(segment: string): Uint8Array | null {
  if (!B64URL.test(segment) || segment.length % 4 === 1) return null;
  const bytes = Buffer.from(segment, 'base64url');
  if (bytes.toString('base64url') !== segment) return null;
  return new Uint8Array(bytes);
}

function parseJsonObject(bytes: Uint8Array): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    return value && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

export function parseCredentialJws(jws: string): ParseResult {
  const format = (problem: CredentialFormatProblem) =>
    ({ ok: false, kind: 'format', problem }) as const;
  const policy = (problem: CredentialPolicyViolation) =>
    ({ ok: false, kind: 'policy', problem }) as const;
  if (jws.length > MAX_CREDENTIAL_LENGTH) return format('too_long');
  const parts = jws.trim().split('.');
  if (parts.length !== 3) return format('not_compact_jws');
  const [h, p, s] = parts as [string, string, string];
  const headerBytes = decodeB64url(h);
  const payloadBytes = decodeB64url(p);
  const signature = decodeB64url(s);
  if (!headerBytes || !payloadBytes || !signature) return format('bad_base64url');
  const header = parseJsonObject(headerBytes);
  if (!header) return format('bad_header_json');
  // Policy first: an `alg: none` or HS256 token is an attack even if the rest is garbage.
  if (header.alg !== 'EdDSA') return policy('alg_not_eddsa');
  if (KEY_CARRYING_HEADERS.some((name) => name in header)) return policy('key_in_header');
  // RFC 7515 §4.1.11: a recipient MUST reject a JWS whose `crit` names extensions it does not
  // understand; certmark understands none.
  if ('crit' in header) return policy('crit_not_understood');
  if ('b64' in header) return policy('unencoded_payload');
  if (header.typ !== 'vc+jwt') return format('wrong_typ');
  if (typeof header.kid !== 'string' || header.kid.length === 0 || header.kid.length > 128) {
    return format('missing_kid');
  }
  const payload = parseJsonObject(payloadBytes);
  if (!payload) return format('bad_payload_json');
  if (signature.length !== 64) return format('bad_signature_length');
  return {
    ok: true,
    value: {
      header: header as ParsedCredentialJws['header'],
      payload,
      signingInput: new TextEncoder().encode(`${h}.${p}`),
      signature,
    },
  };
}

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

/** Signs a credential payload as `vc+jwt` (content type `vc`) with jose. */
export async function signCredentialJws(
  payload: Record<string, unknown>,
  signer: { kid: string; seed: Uint8Array },
): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'EdDSA', typ: 'vc+jwt', cty: 'vc', kid: signer.kid })
    .sign(privateKeyObject(signer.kid, signer.seed));
}
