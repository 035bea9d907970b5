import {
  NOTE_COSIGNATURE_V1,
  NOTE_ED25519,
  NoteError,
  noteKeyId,
  parseVerifierKey,
  type NoteVerifier,
} from '../crypto/signed-note';

/**
 * The witnesses of the audit log as the operator names them (WITNESSES): each a note verifier key
 * and the witness's submission prefix, `<name>+<key ID>+<base64 key>@<URL>`. Pure.
 */

export interface WitnessEndpoint {
  /** The cosigner: name, key ID of signature type cosignature/v1 (0x04), public key. */
  verifier: NoteVerifier;
  /** The submission prefix (tlog-witness "HTTP Interface"), without a final `/`. */
  submissionPrefix: string;
}

/**
 * The cosignature/v1 verifier of a witness key. tlog-cosignature: Ed25519 cosigner keys "MAY be
 * encoded as vkeys with signature type 0x04"; a witness that publishes its key as a plain Ed25519
 * note key (type 0x01) signs cosignatures with the same key under the type-0x04 key ID, so such a
 * key is taken and its key ID recomputed (as transparency-dev/formats' VKeyToCosignatureV1 does).
 */
export function cosignerOf(verifier: NoteVerifier): NoteVerifier {
  if (verifier.type === NOTE_COSIGNATURE_V1) return verifier;
  if (verifier.type !== NOTE_ED25519) throw new NoteError('not an Ed25519 witness key');
  return {
    name: verifier.name,
    type: NOTE_COSIGNATURE_V1,
    publicKey: verifier.publicKey,
    keyId: noteKeyId(verifier.name, NOTE_COSIGNATURE_V1, verifier.publicKey),
  };
}

/** Parses a witness verifier key (either type) into its cosignature/v1 verifier. */
export function parseWitnessKey(vkey: string): NoteVerifier {
  return cosignerOf(parseVerifierKey(vkey));
}

/** One `<verifier key>@<URL>`; throws an Error whose message names what is wrong. */
export function parseWitnessEndpoint(entry: string): WitnessEndpoint {
  // The key's base64 holds no `@`, and its name no `+`: the `@` after the key's second `+`
  // separates key and URL, whatever the URL holds.
  const first = entry.indexOf('+');
  const second = first < 0 ? -1 : entry.indexOf('+', first + 1);
  const at = second < 0 ? -1 : entry.indexOf('@', second);
  if (at < 0) throw new Error(`an entry is not <verifier key>@<URL>`);
  let verifier: NoteVerifier;
  try {
    verifier = parseWitnessKey(entry.slice(0, at));
  } catch (error) {
    // The key only: the URL is not repeated in a message that may be logged.
    throw new Error(
      `"${entry.slice(0, at)}" is not a note verifier key: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const rawUrl = entry.slice(at + 1);
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new Error(`the URL of witness ${verifier.name} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`the URL of witness ${verifier.name} must be http(s)`);
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new Error(
      `the URL of witness ${verifier.name} must be a plain prefix (no credentials, query or fragment)`,
    );
  }
  return { verifier, submissionPrefix: url.href.replace(/\/+$/, '') };
}

/** WITNESSES: comma-separated entries; empty means no witness. Each witness key at most once. */
export function parseWitnessList(value: string): WitnessEndpoint[] {
  const entries = value
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e.length > 0);
  const witnesses = entries.map(parseWitnessEndpoint);
  const seen = new Set<string>();
  for (const { verifier } of witnesses) {
    const id = `${verifier.name}+${verifier.keyId}`;
    if (seen.has(id)) throw new Error(`witness ${verifier.name} is listed twice`);
    seen.add(id);
  }
  return witnesses;
}
