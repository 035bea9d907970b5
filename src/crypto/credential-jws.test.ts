import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  decodeB64url,
  parseCredentialJws,
  signCredentialJws,
  verifyCredentialSignature,
  type ParsedCredentialJws,
} from './credential-jws';
import { decodeB64urlPure } from './credential-jws-core';
import { generateSigningKey, jwkThumbprint } from './ed25519';

const VECTORS = new URL('../../test/vectors/', import.meta.url);
const read = <T>(name: string): T => JSON.parse(readFileSync(new URL(name, VECTORS), 'utf8')) as T;
const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));

/** A parsed credential whose signing input is an arbitrary message: drives vectors through the credential path. */
const parsedWith = (message: Uint8Array, signature: Uint8Array): ParsedCredentialJws => ({
  header: { alg: 'EdDSA', typ: 'vc+jwt', kid: 'k' },
  payload: {},
  signingInput: message,
  signature,
});

interface WycheproofFile {
  testGroups: {
    publicKey: { pk: string };
    tests: { tcId: number; msg: string; sig: string; result: string }[];
  }[];
}

describe('credential signature check on the public vectors', () => {
  it('accepts exactly the Wycheproof tests marked valid', () => {
    const file = read<WycheproofFile>('ed25519_test.json');
    let count = 0;
    for (const group of file.testGroups) {
      for (const test of group.tests) {
        const signature = hex(test.sig);
        // The JWS parser refuses any signature that is not 64 bytes before it reaches the verifier.
        const accepted =
          signature.length === 64 &&
          verifyCredentialSignature(parsedWith(hex(test.msg), signature), hex(group.publicKey.pk));
        expect(accepted, `tcId ${test.tcId}`).toBe(test.result === 'valid');
        count++;
      }
    }
    expect(count).toBe(151);
  });

  it('accepts every RFC 8032 §7.1 signature', () => {
    const vectors = read<{ pub: string; msg: string; sig: string }[]>('rfc8032-ed25519.json');
    for (const v of vectors)
      expect(verifyCredentialSignature(parsedWith(hex(v.msg), hex(v.sig)), hex(v.pub))).toBe(true);
  });

  it('rejects all 196 ZIP-215 small-order cases', () => {
    const vectors = read<{ vk_bytes: string; sig_bytes: string }[]>('zip215.json');
    expect(vectors).toHaveLength(196);
    const message = new TextEncoder().encode('Zcash');
    for (const v of vectors)
      expect(
        verifyCredentialSignature(parsedWith(message, hex(v.sig_bytes)), hex(v.vk_bytes)),
      ).toBe(false);
  });
});

describe('parseCredentialJws', () => {
  const signer = (() => {
    const { seed, publicKey } = generateSigningKey();
    return { seed, publicKey, kid: jwkThumbprint(publicKey) };
  })();

  it('round-trips a signed credential and its signature verifies', async () => {
    const jws = await signCredentialJws({ jti: 'urn:uuid:x' }, signer);
    const parsed = parseCredentialJws(jws);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.value.header).toEqual({
      alg: 'EdDSA',
      typ: 'vc+jwt',
      cty: 'vc',
      kid: signer.kid,
    });
    expect(verifyCredentialSignature(parsed.value, signer.publicKey)).toBe(true);
  });

  it.each([
    ['', 'not_compact_jws'],
    ['a.b', 'not_compact_jws'],
    ['a.b.c.d', 'not_compact_jws'],
    ['eyJ=.e30.AA', 'bad_base64url'],
    ['ey J.e30.AA', 'bad_base64url'],
    ['x'.repeat(70_000), 'too_long'],
  ])('refuses %j as %s', (jws, problem) => {
    const parsed = parseCredentialJws(jws);
    expect(parsed).toMatchObject({ ok: false, problem });
  });

  it('refuses non-canonical base64url (modified unused bits)', async () => {
    const jws = await signCredentialJws({ a: 1 }, signer);
    const [h, p, s] = jws.split('.') as [string, string, string];
    // The last character of a 64-byte signature carries 4 unused bits: flipping one keeps the bytes.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sibling = alphabet[alphabet.indexOf(s.at(-1)!) ^ 1]!;
    expect(Buffer.from(s.slice(0, -1) + sibling, 'base64url')).toEqual(Buffer.from(s, 'base64url'));
    expect(parseCredentialJws(`${h}.${p}.${s.slice(0, -1)}${sibling}`)).toMatchObject({
      ok: false,
      problem: 'bad_base64url',
    });
  });
});

describe('the service’s base64url decoder', () => {
  it('decodes and refuses exactly as the pure decoder does', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const segments = ['', '=', 'A=', 'AA==', 'A+', 'A/', 'A.', 'é', ' AA', 'AA '];
    // Every last character after every group length, from prefixes of encoded random bytes.
    for (let length = 0; length < 12; length++) {
      const encoded = Buffer.from(randomBytes(length)).toString('base64url');
      for (const last of alphabet) segments.push(encoded.slice(0, -1) + last, encoded + last);
    }
    let refused = 0;
    for (const segment of segments) {
      const pure = decodeB64urlPure(segment);
      const service = decodeB64url(segment);
      expect(service === null, segment).toBe(pure === null);
      if (pure === null) refused++;
      else expect(Buffer.from(service!).equals(Buffer.from(pure)), segment).toBe(true);
    }
    expect(refused).toBeGreaterThan(100);
    expect(segments.length - refused).toBeGreaterThan(100);
  });

  it('still reads a credential after refusing one that is not UTF-8', async () => {
    const { seed, publicKey } = generateSigningKey();
    const jws = await signCredentialJws({ a: 1 }, { seed, kid: jwkThumbprint(publicKey) });
    const [h, , s] = jws.split('.') as [string, string, string];
    const notUtf8 = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0xc3]).toString('base64url');
    expect(parseCredentialJws(`${h}.${notUtf8}.${s}`)).toMatchObject({
      ok: false,
      problem: 'bad_payload_json',
    });
    expect(parseCredentialJws(jws)).toMatchObject({ ok: true, value: { payload: { a: 1 } } });
  });
});
