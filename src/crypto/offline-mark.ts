import { base64urlnopad } from '@scure/base';
import { jwkThumbprint, markKeyId } from './ed25519-core';
import { verifyMarkSignatureOffline } from './mark-code-core';
import { findMarkSigner, readScanInput, type MarkKeyCandidate } from './mark-scan';

/**
 * Offline mark verification, the browser entry point (SPEC "Product marks": a mark can be
 * verified offline with the JWKS alone, signature and issuer, with `@noble/ed25519`). Pure
 * JavaScript with no `node:` import and no `Buffer`: it bundles for a browser as it is, and the
 * CLI (`certmark verify`) runs the same code. Reads input and picks the signer with the very
 * functions of the online service (./mark-scan), verifying with `@noble/ed25519` `{ zip215: false }`
 * under the same public-key acceptance rule.
 *
 * What it cannot tell offline: whether the mark is in the registry, voided, cloned, or its
 * certificate still valid. The online service answers those.
 */

/** A JWKS entry as published at /.well-known/jwks.json, read loosely: every member is checked. */
export interface Jwk {
  readonly kty?: unknown;
  readonly crv?: unknown;
  readonly x?: unknown;
  readonly kid?: unknown;
  readonly issuer?: unknown;
  readonly issuerName?: unknown;
  readonly status?: unknown;
  readonly [member: string]: unknown;
}

export interface Jwks {
  readonly keys: readonly Jwk[];
}

/** A JWKS key that can have signed a mark. */
export interface OfflineMarkKey extends MarkKeyCandidate {
  readonly issuer: string;
  readonly issuerName: string;
  /** The JWKS `status` ('active', 'retired', …), 'unknown' when absent. */
  readonly status: string;
}

export type OfflineMarkResult =
  | {
      ok: true;
      serial: string;
      kid: string;
      issuer: string;
      issuerName: string;
      /** The signing key's JWKS status: a retired key's marks stay valid. */
      keyStatus: string;
    }
  | {
      ok: false;
      /** Not a mark at all; no published key with the code's key id; no key's signature holds. */
      reason: 'MALFORMED' | 'UNKNOWN_KEY' | 'BAD_SIGNATURE';
      message: string;
      /** The code's serial, when the input decoded as a code. */
      serial?: string;
    }
  | {
      ok: false;
      /** A typed serial carries no signature: nothing to check offline. */
      reason: 'NOT_CHECKABLE_OFFLINE';
      /** SERIAL_CHECK_FAILED when its check digits fail (probably a typing error). */
      detail: 'SERIAL_ONLY' | 'SERIAL_CHECK_FAILED';
      message: string;
      serial: string;
    };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function hex(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += byte.toString(16).padStart(2, '0');
  return text;
}

/**
 * The JWKS keys that may have signed a mark whose 3-byte key id is `keyId` (every key when it is
 * undefined). Skipped: keys that are not Ed25519, whose `x` is not canonical unpadded base64url,
 * whose key a verifier must refuse (small order, non-canonical: the acceptance rule), whose kid is
 * not the RFC 7638 thumbprint of their `x` (a kid is what binds a mark's key id to a key), that are
 * compromised, or that belong to no issuer (the platform's own key signs checkpoints, never marks).
 */
export function offlineMarkKeys(jwks: Jwks, keyId?: Uint8Array): OfflineMarkKey[] {
  const keys: readonly unknown[] = Array.isArray(jwks?.keys) ? jwks.keys : [];
  const wanted = keyId === undefined ? undefined : hex(keyId);
  const result: OfflineMarkKey[] = [];
  for (const entry of keys) {
    const jwk = entry as Jwk | null | undefined;
    if (
      jwk?.kty !== 'OKP' ||
      jwk.crv !== 'Ed25519' ||
      typeof jwk.x !== 'string' ||
      typeof jwk.kid !== 'string'
    )
      continue;
    if (jwk.status === 'compromised' || typeof jwk.issuer !== 'string' || !UUID.test(jwk.issuer))
      continue;
    try {
      if (wanted !== undefined && hex(markKeyId(jwk.kid)) !== wanted) continue;
      const publicKey = base64urlnopad.decode(jwk.x);
      // Throws for a key the acceptance rule refuses; the kid must be the key's own thumbprint.
      if (jwkThumbprint(publicKey) !== jwk.kid) continue;
      result.push({
        kid: jwk.kid,
        publicKey,
        issuer: jwk.issuer,
        issuerName: typeof jwk.issuerName === 'string' ? jwk.issuerName : jwk.issuer,
        status: typeof jwk.status === 'string' ? jwk.status : 'unknown',
      });
    } catch {
      continue; // not a kid, not base64url, or an unacceptable public key
    }
  }
  return result;
}

/**
 * Checks a scanned or typed mark (URL, bare code or serial) against a JWKS, offline. Never throws.
 * A JWKS without a `keys` array counts as one without keys.
 */
export function verifyMarkOffline(input: string, jwks: Jwks): OfflineMarkResult {
  const scanned = readScanInput(input);
  switch (scanned.kind) {
    case 'malformed':
      return { ok: false, reason: 'MALFORMED', message: scanned.message };
    case 'serial_check_failed':
      return {
        ok: false,
        reason: 'NOT_CHECKABLE_OFFLINE',
        detail: 'SERIAL_CHECK_FAILED',
        message: 'the serial’s check digits fail: probably a typing error',
        serial: scanned.serial,
      };
    case 'serial':
      return {
        ok: false,
        reason: 'NOT_CHECKABLE_OFFLINE',
        detail: 'SERIAL_ONLY',
        message: 'a typed serial carries no signature: check it online',
        serial: scanned.serial,
      };
    case 'code': {
      const candidates = offlineMarkKeys(jwks, scanned.decoded.keyId);
      const check = findMarkSigner(scanned.decoded, candidates, verifyMarkSignatureOffline);
      if (!check.ok) {
        return { ok: false, reason: check.reason, message: check.message, serial: scanned.serial };
      }
      return {
        ok: true,
        serial: scanned.serial,
        kid: check.key.kid,
        issuer: check.key.issuer,
        issuerName: check.key.issuerName,
        keyStatus: check.key.status,
      };
    }
  }
}
