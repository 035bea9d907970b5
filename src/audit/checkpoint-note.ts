import { HASH_LENGTH } from '../crypto/merkle';
import {
  formatVerifierKey,
  isValidKeyName,
  NOTE_ED25519,
  NoteError,
  parseNote,
  signNote,
  verifierOfSeed,
  verifyNoteSignature,
  type NoteVerifier,
} from '../crypto/signed-note';
import { decodeCanonicalBase64, toBase64 } from '../crypto/base64';

/**
 * The audit log's checkpoint as C2SP tlog-checkpoint: a signed note whose text is the origin line,
 * the tree size in decimal and the RFC 6962 root hash in base64, each ending in a newline, with no
 * extension lines; signed with the platform Ed25519 key under the key name = the origin. Pure.
 */

export interface CheckpointBody {
  origin: string;
  size: number;
  root: Uint8Array;
}

/** The note text: `<origin>\n<size>\n<base64 root>\n`. */
export function checkpointBody(origin: string, size: number, root: Uint8Array): string {
  if (!isValidKeyName(origin)) throw new NoteError('invalid origin');
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError('invalid tree size');
  if (root.length !== HASH_LENGTH) throw new RangeError('the root hash is 32 bytes');
  return `${origin}\n${size}\n${toBase64(root)}\n`;
}

/** The signed checkpoint note (one signature line, the log's). */
export function signCheckpointNote(
  seed: Uint8Array,
  origin: string,
  size: number,
  root: Uint8Array,
): string {
  return signNote(checkpointBody(origin, size, root), origin, seed);
}

/** The log's note verifier (type 0x01, name = origin). */
export function logVerifier(origin: string, seed: Uint8Array): NoteVerifier {
  return verifierOfSeed(origin, seed, NOTE_ED25519);
}

/**
 * Whether a signature line of `note` is `seed`'s Ed25519 signature of its text, under whichever
 * key name the line gives (a log's origin may have been renamed since; its key may not).
 */
export function isSignedWithSeed(note: string, seed: Uint8Array): boolean {
  let parsed: ReturnType<typeof parseNote>;
  try {
    parsed = parseNote(note);
  } catch (error) {
    if (error instanceof NoteError) return false; // not a note: signed by nobody
    throw error;
  }
  const { text, signatures } = parsed;
  return signatures.some(
    (line) => verifyNoteSignature(verifierOfSeed(line.name, seed, NOTE_ED25519), text, line).ok,
  );
}

/** The log's verifier key text, as GET /log/key answers it. */
export function logVerifierKey(origin: string, seed: Uint8Array): string {
  const { name, type, publicKey } = logVerifier(origin, seed);
  return formatVerifierKey({ name, type, publicKey });
}

/**
 * Parses checkpoint text (tlog-checkpoint): origin, decimal size without leading zeroes, base64 of
 * a 32-byte root; extension lines are allowed by the format and returned, never interpreted.
 */
export function parseCheckpointBody(text: string): CheckpointBody & { extensions: string[] } {
  const lines = text.split('\n');
  if (lines.length < 4 || lines.at(-1) !== '') throw new NoteError('malformed checkpoint');
  const [origin, sizeLine, rootLine] = lines as [string, string, string];
  if (!origin || !/^(0|[1-9][0-9]*)$/.test(sizeLine)) throw new NoteError('malformed checkpoint');
  const size = Number(sizeLine);
  if (!Number.isSafeInteger(size)) throw new NoteError('malformed checkpoint: size too large');
  const root = decodeCanonicalBase64(rootLine, HASH_LENGTH);
  if (!root) throw new NoteError('malformed checkpoint: root hash');
  return { origin, size, root, extensions: lines.slice(3, -1) };
}
