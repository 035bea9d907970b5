/**
 * Signed notes (C2SP signed-note), with the two signature types a transparency log needs: the log's
 * Ed25519 note signature (type 0x01) and a witness's timestamped Ed25519 cosignature
 * (C2SP tlog-cosignature, type 0x04). Pure: no I/O.
 *
 * A signed note is the text (ending in a newline), a blank line, and one or more lines
 * `— <key name> base64(key ID || signature)`. Verifier keys are written `<name>+<key ID hex>+<base64(type || public key)>`
 * (golang.org/x/mod/sumdb/note, the format every witness and monitor reads).
 */
import { createHash } from 'node:crypto';
import { publicKeyFromSeed, signEd25519 } from './ed25519';
import { isAcceptablePublicKey, verifyEd25519Offline } from './ed25519-core';
import { decodeStrictBase64, toBase64 } from './base64';

/** Signature type bytes (signed-note "Signature types"). */
export const NOTE_ED25519 = 0x01;
export const NOTE_COSIGNATURE_V1 = 0x04;
export type NoteSignatureType = typeof NOTE_ED25519 | typeof NOTE_COSIGNATURE_V1;

/** More signature lines than this make a note malformed (signed-note: accept at least 16). */
export const MAX_NOTE_SIGNATURES = 100;

const EM_DASH = '\u2014';
const encoder = new TextEncoder();

export class NoteError extends Error {
  override readonly name = 'NoteError';
}

/**
 * signed-note "Format": key names are non-empty and hold no Unicode space and no `+`. Control
 * characters are refused too (a name sits on one line of a note that may hold none but newline).
 */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && !/[\s+\p{Cc}\p{Zs}]/u.test(name);
}

/** key ID = SHA-256(key name || 0x0A || signature type || public key)[:4], big-endian uint32. */
export function noteKeyId(name: string, type: NoteSignatureType, publicKey: Uint8Array): number {
  const digest = createHash('sha256')
    .update(encoder.encode(name))
    .update(Uint8Array.of(0x0a, type))
    .update(publicKey)
    .digest();
  return digest.readUInt32BE(0);
}

/** An Ed25519 note verifier key: who signs, with which key and signature type. */
export interface NoteVerifier {
  name: string;
  keyId: number;
  type: NoteSignatureType;
  publicKey: Uint8Array;
}

/** The verifier key text `<name>+<8 hex digits>+<base64(type || public key)>`. */
export function formatVerifierKey(verifier: Omit<NoteVerifier, 'keyId'>): string {
  const keyId = noteKeyId(verifier.name, verifier.type, verifier.publicKey);
  const material = new Uint8Array(1 + verifier.publicKey.length);
  material[0] = verifier.type;
  material.set(verifier.publicKey, 1);
  return `${verifier.name}+${keyId.toString(16).padStart(8, '0')}+${toBase64(material)}`;
}

/**
 * Parses a verifier key, refusing any other spelling: a name with a `+`, a key ID that is not
 * 8 lower-case hex digits or not the key's own, a type other than Ed25519 (0x01) or cosignature/v1
 * (0x04), a key that is not 32 bytes or is of small order.
 */
export function parseVerifierKey(vkey: string): NoteVerifier {
  // Split at the first two `+`: base64 itself may hold a `+`.
  const first = vkey.indexOf('+');
  const second = first < 0 ? -1 : vkey.indexOf('+', first + 1);
  if (second < 0) throw new NoteError('a verifier key is <name>+<key ID>+<key>');
  const name = vkey.slice(0, first);
  const hash = vkey.slice(first + 1, second);
  const material = vkey.slice(second + 1);
  if (!isValidKeyName(name)) throw new NoteError('invalid key name');
  if (!/^[0-9a-f]{8}$/.test(hash))
    throw new NoteError('the key ID must be 8 lower-case hex digits');
  const bytes = decodeStrictBase64(material);
  if (!bytes || bytes.length !== 33) throw new NoteError('the key must be base64 of 33 bytes');
  const type = bytes[0];
  if (type !== NOTE_ED25519 && type !== NOTE_COSIGNATURE_V1) {
    throw new NoteError('unknown signature type');
  }
  const publicKey = bytes.slice(1);
  if (!isAcceptablePublicKey(publicKey)) throw new NoteError('not an acceptable Ed25519 key');
  const keyId = noteKeyId(name, type, publicKey);
  if (keyId !== Number.parseInt(hash, 16)) throw new NoteError('the key ID does not match the key');
  return { name, keyId, type, publicKey };
}

/** The verifier of an Ed25519 seed under `name` and signature type `type`. */
export function verifierOfSeed(
  name: string,
  seed: Uint8Array,
  type: NoteSignatureType = NOTE_ED25519,
): NoteVerifier {
  if (!isValidKeyName(name)) throw new NoteError('invalid key name');
  const publicKey = publicKeyFromSeed(seed);
  return { name, keyId: noteKeyId(name, type, publicKey), type, publicKey };
}

/** One signature line of a note, as written. */
export interface NoteSignature {
  name: string;
  keyId: number;
  /** key ID || signature bytes, base64 as on the line. */
  base64: string;
  /** The decoded bytes after the key ID. */
  signature: Uint8Array;
}

export interface ParsedNote {
  /** The text, including its final newline. */
  text: string;
  signatures: NoteSignature[];
}

/** No lone surrogate (not UTF-8) and no control character but newline (signed-note "Format"). */
function wellFormed(text: string): boolean {
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  return !/[\u0000-\u0009\u000b-\u001f]|[\uD800-\uDFFF]/u.test(text);
}

/** `— <name> <base64>\n` */
export function signatureLine(name: string, keyId: number, signature: Uint8Array): string {
  const bytes = new Uint8Array(4 + signature.length);
  new DataView(bytes.buffer).setUint32(0, keyId);
  bytes.set(signature, 4);
  return `${EM_DASH} ${name} ${toBase64(bytes)}\n`;
}

/**
 * Splits a signed note into its text and signature lines, or throws NoteError ("malformed note"):
 * valid UTF-8, no control characters but newline, the text ends in a newline and is separated from
 * the signatures by the last blank line, every line after it is a well-formed signature line.
 */
export function parseNote(note: string | Uint8Array): ParsedNote {
  let source: string;
  if (typeof note === 'string') {
    source = note;
  } else {
    try {
      source = new TextDecoder('utf-8', { fatal: true }).decode(note);
    } catch {
      throw new NoteError('malformed note: not UTF-8');
    }
  }
  // Lone surrogates cannot be UTF-8; control characters other than newline are refused outright.
  if (!wellFormed(source)) throw new NoteError('malformed note: control characters');
  const split = source.lastIndexOf('\n\n');
  if (split < 0) throw new NoteError('malformed note: no blank line before the signatures');
  const text = source.slice(0, split + 1);
  const block = source.slice(split + 2);
  if (!block.endsWith('\n'))
    throw new NoteError('malformed note: signatures must end in a newline');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES)
    throw new NoteError('malformed note: too many signatures');
  const signatures = lines.map((line) => {
    const match = /^\u2014 (\S+) (\S+)$/u.exec(line);
    const name = match?.[1];
    const bytes = match ? decodeStrictBase64(match[2]!) : undefined;
    if (!match || !name || !isValidKeyName(name) || !bytes || bytes.length < 5) {
      throw new NoteError('malformed note: a signature line is malformed');
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return { name, keyId: view.getUint32(0), base64: match[2]!, signature: bytes.slice(4) };
  });
  if (signatures.length === 0) throw new NoteError('malformed note: no signature');
  return { text, signatures };
}

function requireNoteText(text: string): void {
  if (!text.endsWith('\n')) throw new NoteError('malformed note: the text must end in a newline');
  if (!wellFormed(text)) throw new NoteError('malformed note: control characters');
}

/** The Ed25519 note signature line (type 0x01) of `text` by `seed` under `name`. */
export function signNoteLine(text: string, name: string, seed: Uint8Array): string {
  requireNoteText(text);
  const verifier = verifierOfSeed(name, seed, NOTE_ED25519);
  return signatureLine(name, verifier.keyId, signEd25519(seed, encoder.encode(text)));
}

/** `text`, a blank line and the signature lines: a signed note. */
export function signNote(text: string, name: string, seed: Uint8Array): string {
  return `${text}\n${signNoteLine(text, name, seed)}`;
}

/** cosignature/v1's signed message: the header, the time line and the whole checkpoint text. */
export function cosignatureMessage(checkpointText: string, timestamp: number): Uint8Array {
  return encoder.encode(`cosignature/v1\ntime ${timestamp}\n${checkpointText}`);
}

/**
 * A witness's cosignature line (tlog-cosignature, Ed25519): key ID of type 0x04, then the
 * timestamped_signature (u64 big-endian POSIX seconds || Ed25519 signature).
 */
export function cosignNoteLine(
  checkpointText: string,
  name: string,
  seed: Uint8Array,
  timestamp: number,
): string {
  requireNoteText(checkpointText);
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new NoteError('invalid timestamp');
  const verifier = verifierOfSeed(name, seed, NOTE_COSIGNATURE_V1);
  const signature = signEd25519(seed, cosignatureMessage(checkpointText, timestamp));
  const body = new Uint8Array(8 + 64);
  new DataView(body.buffer).setBigUint64(0, BigInt(timestamp));
  body.set(signature, 8);
  return signatureLine(name, verifier.keyId, body);
}

/** Whether `signature` (a parsed line's bytes after the key ID) is `verifier`'s over `text`. */
export function verifyNoteSignature(
  verifier: NoteVerifier,
  text: string,
  signature: NoteSignature,
): { ok: true; timestamp?: number } | { ok: false } {
  if (signature.name !== verifier.name || signature.keyId !== verifier.keyId) return { ok: false };
  if (verifier.type === NOTE_ED25519) {
    return {
      ok: verifyEd25519Offline(verifier.publicKey, encoder.encode(text), signature.signature),
    };
  }
  if (signature.signature.length !== 72) return { ok: false };
  const view = new DataView(
    signature.signature.buffer,
    signature.signature.byteOffset,
    signature.signature.byteLength,
  );
  const timestamp = view.getBigUint64(0);
  // tlog-cosignature: the timestamp MUST NOT exceed 2^63 - 1; past 2^53 it is no real time anyway.
  if (timestamp > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false };
  const ok = verifyEd25519Offline(
    verifier.publicKey,
    cosignatureMessage(text, Number(timestamp)),
    signature.signature.subarray(8),
  );
  return ok ? { ok: true, timestamp: Number(timestamp) } : { ok: false };
}

export interface OpenedNote {
  text: string;
  /** The verifiers whose signatures verified, in the order of the lines (with a cosignature's time). */
  verified: { verifier: NoteVerifier; timestamp?: number | undefined }[];
  /** Lines from keys not among the verifiers (ignored, as signed-note requires). */
  unknown: NoteSignature[];
}

/**
 * Opens a signed note against known verifiers (signed-note "Signatures"): lines from unknown keys
 * are ignored; a line from a known key (name and key ID) that does not verify rejects the whole
 * note; at least one known signature must verify.
 */
export function openNote(
  note: string | Uint8Array,
  verifiers: readonly NoteVerifier[],
): OpenedNote {
  const { text, signatures } = parseNote(note);
  const verified: OpenedNote['verified'] = [];
  const unknown: NoteSignature[] = [];
  for (const line of signatures) {
    const matches = verifiers.filter((v) => v.name === line.name && v.keyId === line.keyId);
    if (matches.length === 0) {
      unknown.push(line);
      continue;
    }
    if (matches.length > 1) throw new NoteError(`ambiguous key ${line.name}`);
    const verifier = matches[0]!;
    const result = verifyNoteSignature(verifier, text, line);
    if (!result.ok) throw new NoteError(`invalid signature for key ${line.name}`);
    if (!verified.some((v) => v.verifier === verifier)) {
      verified.push({ verifier, timestamp: result.timestamp });
    }
  }
  if (verified.length === 0) throw new NoteError('note has no verifiable signatures');
  return { text, verified, unknown };
}
