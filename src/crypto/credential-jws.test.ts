import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  parseCredentialJws,
  signCredentialJws,
  verifyCredentialSignature,
  type ParsedCredentialJws,
} from './credential-jws';
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
