import { base64urlnopad } from '@scure/base';

/**
 * Reading a credential's compact JWS (RFC 7515) under VC-JOSE-COSE, pure: no `node:` import, no
 * `Buffer`, so the offline verifier in a browser refuses exactly what the service refuses. The
 * service passes its faster `Buffer` decoder (./credential-jws); the rules are these, once.
 * Verification is deliberately narrower than JWS allows: every header a forger could use to
 * smuggle in a key or an algorithm is refused.
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

/** Decodes one base64url segment, or null when it is not canonical unpadded base64url. */
export type Base64urlDecoder = (segment: string) => Uint8Array | null;

/** Strict base64url with @scure/base: no padding, and the canonical encoding of what it decodes to. */
export const decodeB64urlPure: Base64urlDecoder = (segment) => {
  if (!B64URL.test(segment) || segment.length % 4 === 1) return null;
  try {
    const bytes = base64urlnopad.decode(segment);
    return base64urlnopad.encode(bytes) === segment ? bytes : null;
  } catch {
    return null;
  }
};

/** Refuses bytes that are not UTF-8 (RFC 7515 section 5.2 step 4), rather than mending them. */
const utf8 = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

function parseJsonObject(bytes: Uint8Array): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(utf8.decode(bytes));
    return value && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/** What a signed document's JWS must be besides the common rules: its `typ`, its size limit. */
export interface JwsExpectations {
  typ: string;
  maxLength: number;
  decodeB64url: Base64urlDecoder;
}

/** A credential (`vc+jwt`, at most {@link MAX_CREDENTIAL_LENGTH} characters). */
export function parseCredentialJws(
  jws: string,
  decodeB64url: Base64urlDecoder = decodeB64urlPure,
): ParseResult {
  return parseSignedJws(jws, { typ: 'vc+jwt', maxLength: MAX_CREDENTIAL_LENGTH, decodeB64url });
}

/**
 * Any compact JWS certmark signs (a credential, a status list, an offline bundle): EdDSA, a `kid`,
 * the expected `typ`, and no header that could name its own key.
 */
export function parseSignedJws(jws: string, expected: JwsExpectations): ParseResult {
  const { decodeB64url } = expected;
  const format = (problem: CredentialFormatProblem) =>
    ({ ok: false, kind: 'format', problem }) as const;
  const policy = (problem: CredentialPolicyViolation) =>
    ({ ok: false, kind: 'policy', problem }) as const;
  if (typeof jws !== 'string') return format('not_compact_jws');
  if (jws.length > expected.maxLength) return format('too_long');
  const compact = jws.trim();
  const parts = compact.split('.');
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
  if (header.typ !== expected.typ) return format('wrong_typ');
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
      // RFC 7515 section 5.2 step 8: ASCII(BASE64URL(header) || '.' || BASE64URL(payload)).
      signingInput: encoder.encode(compact.slice(0, h.length + 1 + p.length)),
      signature,
    },
  };
}
