import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateSigningKey, jwkThumbprint, markKeyId } from '../crypto/ed25519';
import { createMarkCode, MARK_VERSION, type DecodedMarkCode } from '../crypto/mark-code';
import { generateSerial } from '../crypto/serial';
import { checkMarkSignature, groupSerial, readScanInput } from './mark-signature';

// Public vectors kept in test/vectors (their provenance is in test/vectors/README.md).
const VECTORS = new URL('../../test/vectors/', import.meta.url);
const readVectors = <T>(name: string): T =>
  JSON.parse(readFileSync(new URL(name, VECTORS), 'utf8')) as T;
const hex = (value: string) => new Uint8Array(Buffer.from(value, 'hex'));

/**
 * A vector as the mark verifier sees it: its message in place of the mark's signed bytes. The
 * verifier checks the signature over `signedMessage` exactly as given, so every vector runs through
 * the very function the service and the CLI call.
 */
function asMark(msg: string, sig: string): DecodedMarkCode {
  return {
    version: MARK_VERSION,
    keyId: new Uint8Array(3),
    serial: '0000000000000097',
    serialCheckDigitsValid: true,
    signature: hex(sig),
    signedMessage: hex(msg),
  };
}

interface Vector {
  name: string;
  pk: string;
  msg: string;
  sig: string;
  valid: boolean;
}

function allVectors(): Vector[] {
  const wycheproof = readVectors<{
    testGroups: {
      publicKey: { pk: string };
      tests: { tcId: number; msg: string; sig: string; result: string }[];
    }[];
  }>('ed25519_test.json');
  const rfc8032 = readVectors<{ pub: string; msg: string; sig: string }[]>('rfc8032-ed25519.json');
  const zip215 = readVectors<{ vk_bytes: string; sig_bytes: string }[]>('zip215.json');
  return [
    ...wycheproof.testGroups.flatMap((g) =>
      g.tests.map((t) => ({
        name: `wycheproof ${t.tcId}`,
        pk: g.publicKey.pk,
        msg: t.msg,
        sig: t.sig,
        valid: t.result === 'valid',
      })),
    ),
    ...rfc8032.map((v, i) => ({
      name: `rfc8032 ${i}`,
      pk: v.pub,
      msg: v.msg,
      sig: v.sig,
      valid: true,
    })),
    // ZIP-215 small-order cases: the message is "Zcash"; every one must be refused.
    ...zip215.map((v, i) => ({
      name: `zip215 ${i}`,
      pk: v.vk_bytes,
      msg: Buffer.from('Zcash').toString('hex'),
      sig: v.sig_bytes,
      valid: false,
    })),
  ];
}

describe('checkMarkSignature on the public vectors', () => {
  const vectors = allVectors();

  it('holds 151 Wycheproof, 4 RFC 8032 and 196 ZIP-215 vectors', () => {
    expect(vectors).toHaveLength(151 + 4 + 196);
  });

  it('gives the expected answer on every vector, online and offline', () => {
    const wrong: string[] = [];
    for (const v of vectors) {
      const candidates = [{ kid: v.name, publicKey: hex(v.pk) }];
      for (const offline of [false, true]) {
        const check = checkMarkSignature(asMark(v.msg, v.sig), candidates, { offline });
        if (check.ok !== v.valid) wrong.push(`${v.name} (${offline ? 'offline' : 'online'})`);
        if (!check.ok) expect(check.reason).toBe('BAD_SIGNATURE');
      }
    }
    expect(wrong).toEqual([]);
  });
});

describe('checkMarkSignature on marks', () => {
  const key = generateSigningKey();
  const kid = jwkThumbprint(key.publicKey);
  const other = generateSigningKey();
  const serial = generateSerial();
  const code = createMarkCode({ seed: key.seed, kid, serial });

  it('tries every candidate sharing the key id and names the signer', () => {
    const scanned = readScanInput(code);
    if (scanned.kind !== 'code') throw new Error('expected a code');
    expect(Buffer.from(scanned.decoded.keyId)).toEqual(Buffer.from(markKeyId(kid)));
    const impostor = { kid: 'impostor', publicKey: other.publicKey };
    const signer = { kid, publicKey: key.publicKey };
    for (const offline of [false, true]) {
      const check = checkMarkSignature(scanned.decoded, [impostor, signer], { offline });
      expect(check.ok && check.key.kid).toBe(kid);
      expect(checkMarkSignature(scanned.decoded, [impostor], { offline })).toMatchObject({
        ok: false,
        reason: 'BAD_SIGNATURE',
      });
      expect(checkMarkSignature(scanned.decoded, [], { offline })).toMatchObject({
        ok: false,
        reason: 'UNKNOWN_KEY',
      });
    }
  });

  it('reads URLs, codes and serials', () => {
    expect(readScanInput(`HTTPS://X.CN/M/${code}`)).toMatchObject({ kind: 'code', serial });
    expect(readScanInput(groupSerial(serial))).toEqual({ kind: 'serial', serial });
    const typo = serial.slice(0, 15) + String((Number(serial[15]) + 1) % 10);
    expect(readScanInput(typo)).toEqual({ kind: 'serial_check_failed', serial: typo });
    expect(readScanInput('not a mark').kind).toBe('malformed');
  });
});
