import {
  NOTE_ED25519,
  NoteError,
  noteKeyId,
  openNote,
  parseNote,
  type NoteVerifier,
} from '../crypto/signed-note';
import { parseCheckpointBody, type CheckpointBody } from './checkpoint-note';

/**
 * A monitor's check of a served checkpoint (what `certmark audit verify --witness` runs): the log's
 * own Ed25519 signature, and at least `quorum` valid cosignatures of the trusted witnesses
 * (C2SP tlog-cosignature). Pure.
 */

export interface CosignedCheckpoint {
  ok: boolean;
  checkpoint?: CheckpointBody | undefined;
  /** The trusted witnesses whose cosignatures verify, in the note's order. */
  cosigners: { name: string; timestamp: number }[];
  problem?: string | undefined;
}

/**
 * Checks `note` against the log's public keys (its note key name is the checkpoint's origin; any of
 * the keys may have signed it) and the trusted witnesses' cosignature/v1 verifiers. Lines of other
 * keys are ignored (signed-note); a trusted key's line that does not verify fails the note.
 */
export function checkCosignedCheckpoint(
  note: string,
  options: {
    logPublicKeys: readonly Uint8Array[];
    witnesses: readonly NoteVerifier[];
    quorum: number;
  },
): CosignedCheckpoint {
  let checkpoint: CheckpointBody;
  try {
    checkpoint = parseCheckpointBody(parseNote(note).text);
  } catch (error) {
    return {
      ok: false,
      cosigners: [],
      problem: `malformed checkpoint: ${(error as Error).message}`,
    };
  }
  const logVerifiers: NoteVerifier[] = options.logPublicKeys.map((publicKey) => ({
    name: checkpoint.origin,
    type: NOTE_ED25519,
    publicKey,
    keyId: noteKeyId(checkpoint.origin, NOTE_ED25519, publicKey),
  }));
  let opened;
  try {
    opened = openNote(note, [...logVerifiers, ...options.witnesses]);
  } catch (error) {
    const message = error instanceof NoteError ? error.message : String(error);
    return { ok: false, checkpoint, cosigners: [], problem: message };
  }
  if (!opened.verified.some((v) => logVerifiers.includes(v.verifier))) {
    return { ok: false, checkpoint, cosigners: [], problem: 'the log’s own signature is missing' };
  }
  const cosigners = opened.verified
    .filter((v) => options.witnesses.includes(v.verifier))
    .map((v) => ({ name: v.verifier.name, timestamp: v.timestamp ?? 0 }));
  if (cosigners.length < options.quorum) {
    return {
      ok: false,
      checkpoint,
      cosigners,
      problem: `${cosigners.length} valid cosignature${cosigners.length === 1 ? '' : 's'} of the ${options.witnesses.length} witnesses, ${options.quorum} required`,
    };
  }
  return { ok: true, checkpoint, cosigners };
}
