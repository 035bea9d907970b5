import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  cosignNoteLine,
  formatVerifierKey,
  noteKeyId,
  NOTE_COSIGNATURE_V1,
  NOTE_ED25519,
  openNote,
  parseNote,
  parseVerifierKey,
  signNote,
  verifierOfSeed,
} from './signed-note';

const vectors = (name: string) =>
  JSON.parse(
    readFileSync(new URL(`../../test/vectors/signed-note/${name}`, import.meta.url), 'utf8'),
  );
const sumdb = vectors('sumdb-note.json');
const cosig = vectors('cosignature-v1.json');

/** `PRIVATE+KEY+<name>+<hash>+base64(0x01 ‖ seed)`, Go's signer key format. */
function seedOfSkey(skey: string): { name: string; seed: Uint8Array } {
  // The fields are separated by the first four `+`; the base64 may hold more.
  const parts = skey.split('+');
  const bytes = Buffer.from(parts.slice(4).join('+'), 'base64');
  expect(parts.slice(0, 2)).toEqual(['PRIVATE', 'KEY']);
  expect(bytes[0]).toBe(0x01);
  return { name: parts[2]!, seed: new Uint8Array(bytes.subarray(1)) };
}

describe('signed notes against golang.org/x/mod/sumdb/note', () => {
  const { name, seed } = seedOfSkey(sumdb.skey);

  it('signs the sumdb vector byte for byte, with its key ID', () => {
    expect(signNote(sumdb.text, name, seed)).toBe(sumdb.signed);
    expect(verifierOfSeed(name, seed).keyId).toBe(0xc74f20a3);
  });

  it('writes and reads the verifier key exactly', () => {
    const verifier = verifierOfSeed(name, seed);
    expect(formatVerifierKey(verifier)).toBe(sumdb.vkey);
    const parsed = parseVerifierKey(sumdb.vkey);
    expect(parsed.name).toBe('PeterNeumann');
    expect(parsed.keyId).toBe(0xc74f20a3);
    expect(Buffer.from(parsed.publicKey)).toEqual(Buffer.from(verifier.publicKey));
  });

  it('refuses every truncation and every one-byte change of the verifier key, as Go does', () => {
    const key = sumdb.vkey as string;
    const refused = (k: string) => {
      expect(() => parseVerifierKey(k), k).toThrow();
    };
    for (let i = 0; i <= key.length; i++) {
      for (let j = i + 1; j <= key.length; j++)
        if (i !== 0 || j !== key.length) refused(key.slice(i, j));
    }
    for (let i = 0; i < key.length; i++) {
      refused(key.slice(0, i) + String.fromCharCode(key.charCodeAt(i) + 1) + key.slice(i + 1));
    }
    for (const bad of sumdb.badVkeys) refused(bad);
  });

  it('opens a note signed by a known key and ignores unknown ones', () => {
    const peter = parseVerifierKey(sumdb.vkey);
    const enoch = parseVerifierKey(sumdb.enochVkey);
    const note = `${sumdb.text}\n${sumdb.peterSig}${sumdb.enochSig}`;
    const one = openNote(note, [peter]);
    expect(one.text).toBe(sumdb.text);
    expect(one.verified.map((v) => v.verifier.name)).toEqual(['PeterNeumann']);
    expect(one.unknown.map((s) => s.name)).toEqual(['EnochRoot']);
    expect(openNote(note, [peter, enoch]).verified).toHaveLength(2);
    expect(() => openNote(note, [])).toThrow('no verifiable signatures');
    expect(() => openNote(`${sumdb.text}\n${sumdb.enochSig}`, [enoch, peter, enoch])).toThrow(
      'ambiguous key',
    );
  });

  it('rejects a known key whose signature fails, and malformed notes', () => {
    const peter = parseVerifierKey(sumdb.vkey);
    const sig = sumdb.peterSig as string;
    expect(() =>
      openNote(`${sumdb.text}\n${sig.slice(0, 60)}ABCD${sig.slice(60)}`, [peter]),
    ).toThrow('invalid signature');
    for (const bad of [
      sumdb.text,
      `${sumdb.text}\n`,
      `${sumdb.text}\n${sig.slice(0, -1)}`,
      `\u0001${sumdb.text}\n${sig}`,
      `${sumdb.text}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=`,
      `${sumdb.text}\n${sig}Unexpected line.\n`,
      `${sumdb.text}\n${sig.repeat(101)}`,
    ]) {
      expect(() => openNote(bad, [peter]), JSON.stringify(bad)).toThrow('malformed note');
    }
    const bytes = Buffer.concat([Buffer.from([0xff]), Buffer.from(`${sumdb.text}\n${sig}`)]);
    expect(() => parseNote(new Uint8Array(bytes))).toThrow('malformed note');
  });
});

describe('cosignature/v1 against transparency-dev/formats', () => {
  it('reads a cosigner verifier key (type 0x04) and an Ed25519 one, checking their key IDs', () => {
    const cosigner = parseVerifierKey(cosig.cosignatureVkey);
    expect(cosigner.type).toBe(NOTE_COSIGNATURE_V1);
    expect(cosigner.keyId).toBe(0xda77ade7);
    expect(noteKeyId(cosigner.name, NOTE_COSIGNATURE_V1, cosigner.publicKey)).toBe(0xda77ade7);
    // A base64 key with `+` in it: only the first two `+` separate the fields.
    const ed = parseVerifierKey(cosig.ed25519Vkey);
    expect(ed.type).toBe(NOTE_ED25519);
    expect(ed.keyId).toBe(0x7997405c);
    for (const bad of cosig.badVkeys) expect(() => parseVerifierKey(bad)).toThrow();
  });

  it('puts the timestamp big-endian before the signature, as the vector does', () => {
    const bytes = Buffer.from(cosig.timestampedSignature, 'base64');
    expect(Number(bytes.readBigUInt64BE(4))).toBe(cosig.timestamp);
    const seed = new Uint8Array(32).fill(7);
    const line = cosignNoteLine(
      'example.org/log\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n',
      'w.example',
      seed,
      cosig.timestamp,
    );
    const ours = Buffer.from(line.trim().split(' ')[2]!, 'base64');
    expect(ours).toHaveLength(4 + 8 + 64);
    expect(Number(ours.readBigUInt64BE(4))).toBe(cosig.timestamp);
  });

  it('verifies a cosignature over the checkpoint text and refuses it on another text or time', () => {
    const seed = new Uint8Array(32).fill(9);
    const text = 'example.org/log\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n';
    const witness = verifierOfSeed('witness.example/w1', seed, NOTE_COSIGNATURE_V1);
    const vkey = parseVerifierKey(formatVerifierKey(witness));
    const line = cosignNoteLine(text, witness.name, seed, 1_700_000_000);
    const opened = openNote(`${text}\n${line}`, [vkey]);
    expect(opened.verified[0]!.timestamp).toBe(1_700_000_000);
    expect(() => openNote(`${text.replace('5', '6')}\n${line}`, [vkey])).toThrow(
      'invalid signature',
    );
    // The same key as a plain Ed25519 note key has another key ID: the line is not its.
    const asNoteKey = verifierOfSeed('witness.example/w1', seed, NOTE_ED25519);
    expect(() => openNote(`${text}\n${line}`, [asNoteKey])).toThrow('no verifiable signatures');
  });
});
