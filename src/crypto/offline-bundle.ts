import { sha256 } from '@noble/hashes/sha2.js';
import { base64urlnopad } from '@scure/base';
import { decodeEncodedList, getStatusBit } from './bitstring-status-list';
import { decodeB64urlPure, parseSignedJws, type ParsedCredentialJws } from './credential-jws-core';
import { jwkThumbprint, verifyEd25519Offline } from './ed25519-core';
import { issuerUrl } from './issuer-identifier';
import { offlineMarkKeys, type Jwk, type Jwks, type OfflineMarkKey } from './offline-mark';

/**
 * The offline bundle (SPEC "Offline bundle"): one compact JWS, signed by the transparency log's
 * key (the platform key, `purpose: "transparency-log"` in the JWKS), whose payload carries what a
 * verifier without a network needs: the published keys, the signed status lists as the service
 * serves them (each still signed by its issuer), where voided marks sit in their batches' lists,
 * the latest log checkpoint, when it was made and until when its status information may be used.
 *
 * Pure JavaScript (no `node:` import, no `Buffer`): the CLI and the page in a browser read bundles
 * with this very module.
 */

/** The JWS `typ` of a bundle: never mistaken for a credential (`vc+jwt`) or a list. */
export const OFFLINE_BUNDLE_TYP = 'certmark-offline-bundle+jwt';
/** The payload's `type`: the version of this format. */
export const OFFLINE_BUNDLE_FORMAT = 'certmark/offline-bundle/v1';
/** A bundle of every list of a large registry is megabytes; far beyond is not a bundle. */
export const MAX_BUNDLE_LENGTH = 64 * 1024 * 1024;
/** One signed status list: a batch of a million marks, all void, is about 160 KB. */
const MAX_LIST_LENGTH = 4 * 1024 * 1024;

/** The signed payload of a bundle. */
export interface OfflineBundlePayload {
  type: typeof OFFLINE_BUNDLE_FORMAT;
  /** The service (PUBLIC_BASE_URL): issuers' `iss` are `{iss}/v1/issuers/{id}`. */
  iss: string;
  /** When it was made, in seconds (JWT `iat`), and as an ISO instant. */
  iat: number;
  createdAt: string;
  /**
   * Until when its status information may be relied on (ISO instant). Not a JWT `exp`: the keys
   * and signatures in it stay evidence after; only what it says of status goes stale.
   */
  freshUntil: string;
  /** The issuers it was narrowed to, or null for every issuer. */
  issuers: string[] | null;
  /** The published keys (issuers' and the transparency log's), as `/.well-known/jwks.json`. */
  jwks: { keys: readonly object[] };
  /** Each status list's `vc+jwt` exactly as `GET /v1/status-lists/{id}` serves it. */
  statusLists: string[];
  /** Voided marks: a digest of the serial (never the serial), its batch's list and position. */
  voidedMarks: VoidedMark[];
  /**
   * The issuers (of those it covers) suspended when it was made: their marks verify invalid, as
   * online. (A credential's status lists say it too, by its suspension bit.) Absent from bundles
   * made before it was added: none listed.
   */
  suspendedIssuers: string[];
  /** The latest checkpoint of the transparency log, as the log serves it (text). */
  logCheckpoint: string;
}

export interface VoidedMark {
  /** {@link voidedMarkDigest} of the mark's serial. */
  serialDigest: string;
  /** The batch list's URL (`statusListCredential`). */
  list: string;
  /** The mark's bit in that list. */
  position: number;
}

/**
 * The digest under which a voided mark is listed: SHA-256 of a domain-separated serial, first 16
 * bytes, base64url. A bundle lists voided marks without handing out their serials: a typed serial
 * is looked up online, and a list of serials would be a list of labels to print.
 */
export function voidedMarkDigest(serial: string): string {
  const digest = sha256(new TextEncoder().encode(`certmark/voided-mark/v1\n${serial}`));
  return base64urlnopad.encode(digest.subarray(0, 16));
}

/** A status list read from a bundle: its issuer's signature checked, its bits decoded. */
export interface BundledStatusList {
  url: string;
  issuerId: string;
  purpose: string;
  validUntil: Date | undefined;
  bits: Uint8Array;
}

/** A bundle whose signature and contents were checked. */
export interface OfflineBundle {
  service: string;
  createdAt: Date;
  freshUntil: Date;
  /** The transparency log's key that signed it (compare with one you trust: `--log-kid`). */
  logKid: string;
  issuers: string[] | null;
  /** The issuers' keys (current and retired) that may have signed a credential, list or mark. */
  keys: OfflineMarkKey[];
  jwks: Jwks;
  lists: Map<string, BundledStatusList>;
  /** Lists whose issuer signature did not verify or that would not decode: left out. */
  refusedLists: number;
  voided: Map<string, VoidedMark>;
  /** Issuers suspended when the bundle was made. */
  suspendedIssuers: Set<string>;
  logCheckpoint: string;
}

export type OfflineBundleProblem =
  'malformed' | 'unsupported_format' | 'unknown_log_key' | 'untrusted_log_key' | 'bad_signature';

export type ReadBundleResult =
  | { ok: true; bundle: OfflineBundle }
  | { ok: false; problem: OfflineBundleProblem; message: string };

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function instant(value: unknown): Date | undefined {
  if (typeof value !== 'string') return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** The transparency log's key named by `kid`, from the bundle's own JWKS. */
function logKey(jwks: Jwks, kid: string): Uint8Array | undefined {
  for (const entry of jwks.keys) {
    const jwk = entry as Jwk;
    if (jwk.purpose !== 'transparency-log' || jwk.kid !== kid || typeof jwk.x !== 'string')
      continue;
    try {
      const publicKey = base64urlnopad.decode(jwk.x);
      if (jwkThumbprint(publicKey) === kid) return publicKey;
    } catch {
      // not base64url or an unacceptable key: not this one
    }
  }
  return undefined;
}

/**
 * Checks a bundle and reads it. The bundle must be signed by the transparency log's key it names;
 * with `logKid` that key must be the one given (a key the verifier got another way: the JWKS it
 * trusts, the service's documentation), else the bundle is refused. Each status list must be
 * signed by a key of the issuer whose `iss` it names, or it is left out (its credentials' status
 * is then unknown). Never throws.
 */
export function readOfflineBundle(
  jws: string,
  options: { logKid?: string } = {},
): ReadBundleResult {
  const parsed = parseSignedJws(jws, {
    typ: OFFLINE_BUNDLE_TYP,
    maxLength: MAX_BUNDLE_LENGTH,
    decodeB64url: decodeB64urlPure,
  });
  if (!parsed.ok)
    return {
      ok: false,
      problem: 'malformed',
      message: `not an offline bundle (${parsed.problem.replaceAll('_', ' ')})`,
    };
  const { header, payload } = parsed.value;
  if (payload.type !== OFFLINE_BUNDLE_FORMAT)
    return {
      ok: false,
      problem: 'unsupported_format',
      message: 'not a bundle format this verifier reads',
    };
  const jwks = payload.jwks as Jwks | undefined;
  if (!isRecord(jwks) || !Array.isArray(jwks.keys))
    return { ok: false, problem: 'malformed', message: 'the bundle has no keys' };
  if (options.logKid !== undefined && options.logKid !== header.kid)
    return {
      ok: false,
      problem: 'untrusted_log_key',
      message: `the bundle is signed by ${header.kid}, not by the log key ${options.logKid}`,
    };
  const publicKey = logKey(jwks, header.kid);
  if (!publicKey)
    return {
      ok: false,
      problem: 'unknown_log_key',
      message: 'the bundle names no transparency-log key of its own',
    };
  if (!verifyEd25519Offline(publicKey, parsed.value.signingInput, parsed.value.signature))
    return {
      ok: false,
      problem: 'bad_signature',
      message: 'the bundle’s signature does not verify',
    };

  const service = payload.iss;
  const createdAt = instant(payload.createdAt);
  const freshUntil = instant(payload.freshUntil);
  if (typeof service !== 'string' || !createdAt || !freshUntil)
    return { ok: false, problem: 'malformed', message: 'the bundle does not say when it was made' };

  const keys = offlineMarkKeys(jwks);
  const lists = new Map<string, BundledStatusList>();
  let refusedLists = 0;
  for (const listJws of Array.isArray(payload.statusLists) ? payload.statusLists : []) {
    const list = readStatusList(listJws, keys, service);
    if (list) lists.set(list.url, list);
    else refusedLists += 1;
  }
  const voided = new Map<string, VoidedMark>();
  for (const entry of Array.isArray(payload.voidedMarks) ? payload.voidedMarks : []) {
    if (
      isRecord(entry) &&
      typeof entry.serialDigest === 'string' &&
      typeof entry.list === 'string' &&
      Number.isInteger(entry.position)
    )
      voided.set(entry.serialDigest, entry as unknown as VoidedMark);
  }
  return {
    ok: true,
    bundle: {
      service,
      createdAt,
      freshUntil,
      logKid: header.kid,
      issuers: Array.isArray(payload.issuers) ? (payload.issuers as string[]) : null,
      keys,
      jwks,
      lists,
      refusedLists,
      voided,
      suspendedIssuers: new Set(
        Array.isArray(payload.suspendedIssuers)
          ? payload.suspendedIssuers.filter((id): id is string => typeof id === 'string')
          : [],
      ),
      logCheckpoint: typeof payload.logCheckpoint === 'string' ? payload.logCheckpoint : '',
    },
  };
}

/** A status list `vc+jwt` signed by a key of the issuer it names, decoded; undefined otherwise. */
function readStatusList(
  jws: unknown,
  keys: readonly OfflineMarkKey[],
  service: string,
): BundledStatusList | undefined {
  if (typeof jws !== 'string') return undefined;
  const parsed = parseSignedJws(jws, {
    typ: 'vc+jwt',
    maxLength: MAX_LIST_LENGTH,
    decodeB64url: decodeB64urlPure,
  });
  if (!parsed.ok) return undefined;
  const key = signerOf(parsed.value, keys);
  if (!key) return undefined;
  const payload = parsed.value.payload;
  const subject = payload.credentialSubject;
  if (
    payload.iss !== issuerUrl(service, key.issuer) ||
    typeof payload.id !== 'string' ||
    !isRecord(subject) ||
    typeof subject.encodedList !== 'string'
  )
    return undefined;
  try {
    return {
      url: payload.id,
      issuerId: key.issuer,
      purpose: typeof subject.statusPurpose === 'string' ? subject.statusPurpose : '',
      validUntil: instant(payload.validUntil),
      bits: decodeEncodedList(subject.encodedList),
    };
  } catch {
    return undefined;
  }
}

/** The issuer key among `keys` whose kid the JWS names and whose signature holds. */
export function signerOf(
  parsed: ParsedCredentialJws,
  keys: readonly OfflineMarkKey[],
): OfflineMarkKey | undefined {
  const key = keys.find((k) => k.kid === parsed.header.kid);
  if (!key) return undefined;
  return verifyEd25519Offline(key.publicKey, parsed.signingInput, parsed.signature)
    ? key
    : undefined;
}

/** The status bit of entry `index` of a bundled list; undefined when out of its range. */
export function bundledBit(list: BundledStatusList, index: number): boolean | undefined {
  try {
    return getStatusBit(list.bits, index);
  } catch {
    return undefined;
  }
}

/**
 * Whether refused text still claims to be a bundle: a compact JWS whose header or payload says so
 * (the bundle's `typ`, its format, a freshness limit). Such text is a bundle someone altered (a
 * field dropped, the header changed, the signature cut), not a file of another kind. Never throws.
 */
export function claimsToBeBundle(text: string): boolean {
  const parts = text.trim().split('.');
  if (parts.length !== 3) return false;
  const json = (part: string): Record<string, unknown> | undefined => {
    try {
      const bytes = decodeB64urlPure(part);
      if (!bytes) return undefined;
      const value: unknown = JSON.parse(new TextDecoder().decode(bytes));
      return isRecord(value) ? value : undefined;
    } catch {
      return undefined;
    }
  };
  const header = json(parts[0]!);
  const payload = json(parts[1]!);
  return (
    header?.typ === OFFLINE_BUNDLE_TYP ||
    payload?.type === OFFLINE_BUNDLE_FORMAT ||
    (payload !== undefined && 'freshUntil' in payload)
  );
}
