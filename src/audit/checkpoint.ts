import {
  jwkThumbprint,
  publicKeyFromSeed,
  signEd25519,
  verifyEd25519Offline,
} from '../crypto/ed25519';
import { HASH_LENGTH } from '../crypto/merkle';
import { decodeCanonicalBase64, toBase64 } from '../crypto/base64';

/**
 * Signed checkpoints of the audit log (a signed tree head, as RFC 9162 §4.10 and the
 * transparency-dev checkpoint format): the log's size and Merkle root at an instant, signed with the
 * platform Ed25519 key published in the JWKS. Pure: no I/O.
 */

/** Domain separation: these bytes can never be mistaken for a credential, a mark or another version. */
export const CHECKPOINT_DOMAIN = 'certmark/checkpoint/v1';

export interface Checkpoint {
  treeSize: number;
  /** MTH of the first treeSize leaves, base64. */
  rootHash: string;
  /** ISO 8601 instant the checkpoint was signed. */
  timestamp: string;
  /** The platform key's kid (RFC 7638 thumbprint) in the JWKS. */
  kid: string;
  /** Ed25519 over {@link checkpointText}, base64. */
  signature: string;
}

/**
 * The signed text: `certmark/checkpoint/v1\n<size>\n<root base64>\n<timestamp>\n`, UTF-8.
 *
 * @example
 * checkpointText({ treeSize: 3, rootHash: 'q6…=', timestamp: '2026-11-24T10:00:00.000Z' });
 */
export function checkpointText(
  head: Pick<Checkpoint, 'treeSize' | 'rootHash' | 'timestamp'>,
): string {
  return `${CHECKPOINT_DOMAIN}\n${head.treeSize}\n${head.rootHash}\n${head.timestamp}\n`;
}

/** Signs the tree head with the platform seed. */
export function signCheckpoint(
  platformSeed: Uint8Array,
  treeSize: number,
  root: Uint8Array,
  at: Date,
): Checkpoint {
  const head = { treeSize, rootHash: toBase64(root), timestamp: at.toISOString() };
  const signature = signEd25519(platformSeed, new TextEncoder().encode(checkpointText(head)));
  return {
    ...head,
    kid: jwkThumbprint(publicKeyFromSeed(platformSeed)),
    signature: toBase64(signature),
  };
}

export interface JwksLike {
  keys: { kid?: unknown; kty?: unknown; crv?: unknown; x?: unknown; issuer?: unknown }[];
}

export type CheckpointProblem = 'malformed' | 'unknown_key' | 'bad_signature';

/**
 * Checks a checkpoint against the JWKS: its kid must be the platform's key (`issuer: "certmark"`:
 * an issuer's credential key must never vouch for the log) and the signature must verify under the
 * offline (noble, strict RFC 8032) verifier. Returns the root bytes, or the problem.
 */
export function verifyCheckpoint(
  checkpoint: unknown,
  jwks: JwksLike,
):
  | { ok: true; checkpoint: Checkpoint; root: Uint8Array }
  | { ok: false; problem: CheckpointProblem } {
  const c = checkpoint as Partial<Checkpoint> | null;
  if (
    !c ||
    typeof c !== 'object' ||
    !Number.isSafeInteger(c.treeSize) ||
    (c.treeSize as number) < 0 ||
    typeof c.timestamp !== 'string' ||
    typeof c.kid !== 'string'
  ) {
    return { ok: false, problem: 'malformed' };
  }
  const root = decodeCanonicalBase64(c.rootHash, HASH_LENGTH);
  const signature = decodeCanonicalBase64(c.signature, 64);
  if (!root || !signature) return { ok: false, problem: 'malformed' };
  const jwk = jwks.keys.find(
    (k) => k.kid === c.kid && k.issuer === 'certmark' && k.kty === 'OKP' && k.crv === 'Ed25519',
  );
  const publicKey =
    typeof jwk?.x === 'string' ? new Uint8Array(Buffer.from(jwk.x, 'base64url')) : undefined;
  if (!publicKey || publicKey.length !== 32) return { ok: false, problem: 'unknown_key' };
  const text = checkpointText(c as Checkpoint);
  if (!verifyEd25519Offline(publicKey, new TextEncoder().encode(text), signature)) {
    return { ok: false, problem: 'bad_signature' };
  }
  return { ok: true, checkpoint: c as Checkpoint, root };
}
