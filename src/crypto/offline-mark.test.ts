import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { base32nopad } from '@scure/base';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ed25519Jwk, generateSigningKey, jwkThumbprint } from './ed25519';
import { createMarkCode } from './mark-code';
import { verifyMarkOffline, type Jwks, type OfflineMarkResult } from './offline-mark';
import { generateSerial } from './serial';

const ISSUER = '3f2b8c1e-6a4d-4e2f-9b1a-7c5d2e8f0a91';
const ENTRY = fileURLToPath(new URL('./offline-mark.ts', import.meta.url));
const MAX_BUNDLE_BYTES = 200 * 1024;

function issuerKey(status = 'active') {
  const { seed, publicKey } = generateSigningKey();
  const kid = jwkThumbprint(publicKey);
  const jwk = { ...ed25519Jwk(publicKey), kid, issuer: ISSUER, issuerName: 'Test CB', status };
  return { seed, publicKey, kid, jwk };
}

/** Flips bits of one payload byte and re-encodes: still a well-formed code. */
function tamper(code: string, index: number, mask: number): string {
  const payload = base32nopad.decode(code);
  payload[index]! ^= mask;
  return base32nopad.encode(payload);
}

describe('verifyMarkOffline', () => {
  const signer = issuerKey();
  const serial = generateSerial();
  const code = createMarkCode({ seed: signer.seed, kid: signer.kid, serial });
  const jwks: Jwks = { keys: [signer.jwk] };

  it('accepts a genuine code, bare or as a URL, and names the issuer', () => {
    const expected: OfflineMarkResult = {
      ok: true,
      serial,
      kid: signer.kid,
      issuer: ISSUER,
      issuerName: 'Test CB',
      keyStatus: 'active',
    };
    expect(verifyMarkOffline(code, jwks)).toEqual(expected);
    expect(verifyMarkOffline(`https://v.example/m/${code.toLowerCase()}?x=1`, jwks)).toEqual(
      expected,
    );
  });

  it('refuses a tampered signature, an unknown key and malformed input', () => {
    expect(verifyMarkOffline(tamper(code, 40, 0x10), jwks)).toMatchObject({
      ok: false,
      reason: 'BAD_SIGNATURE',
      serial,
    });
    // Altered in the serial (whose check digits then fail), it is a bad signature all the same.
    expect(verifyMarkOffline(tamper(code, 9, 0x10), jwks)).toMatchObject({
      ok: false,
      reason: 'BAD_SIGNATURE',
    });
    expect(verifyMarkOffline(code, { keys: [issuerKey().jwk] })).toMatchObject({
      ok: false,
      reason: 'UNKNOWN_KEY',
    });
    expect(verifyMarkOffline('hello', jwks)).toMatchObject({ ok: false, reason: 'MALFORMED' });
  });

  it('says a typed serial cannot be checked offline', () => {
    expect(verifyMarkOffline(serial, jwks)).toMatchObject({
      ok: false,
      reason: 'NOT_CHECKABLE_OFFLINE',
      detail: 'SERIAL_ONLY',
      serial,
    });
    const typo = serial.slice(0, 15) + String((Number(serial[15]) + 1) % 10);
    expect(verifyMarkOffline(typo, jwks)).toMatchObject({
      reason: 'NOT_CHECKABLE_OFFLINE',
      detail: 'SERIAL_CHECK_FAILED',
    });
  });

  it('refuses keys whose kid is not their own thumbprint, compromised and issuer-less keys', () => {
    const other = issuerKey();
    // The signer's kid (so its 3-byte key id matches) on another key's x.
    const impostor = { ...other.jwk, kid: signer.kid };
    expect(verifyMarkOffline(code, { keys: [impostor] })).toMatchObject({
      reason: 'UNKNOWN_KEY',
    });
    expect(
      verifyMarkOffline(code, { keys: [{ ...signer.jwk, status: 'compromised' }] }),
    ).toMatchObject({ reason: 'UNKNOWN_KEY' });
    const { issuer: _issuer, ...platformKey } = signer.jwk;
    expect(verifyMarkOffline(code, { keys: [platformKey] })).toMatchObject({
      reason: 'UNKNOWN_KEY',
    });
    // x padded or otherwise not canonical base64url is refused.
    expect(
      verifyMarkOffline(code, { keys: [{ ...signer.jwk, x: `${signer.jwk.x}=` }] }),
    ).toMatchObject({ reason: 'UNKNOWN_KEY' });
    // A retired key's marks stay valid; a refused entry beside the signer's changes nothing.
    expect(
      verifyMarkOffline(code, { keys: [impostor, { ...signer.jwk, status: 'retired' }] }),
    ).toMatchObject({
      ok: true,
      keyStatus: 'retired',
    });
  });

  it('never throws on a JWKS without a keys array', () => {
    expect(verifyMarkOffline(code, {} as Jwks)).toMatchObject({ reason: 'UNKNOWN_KEY' });
  });
});

describe('the browser bundle of offline-mark', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmark-offline-bundle-'));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('bundles for the browser without node: modules, and verifies marks', async () => {
    // platform 'browser' cannot resolve node: built-ins: a node: import anywhere fails the build.
    const result = await build({
      entryPoints: [ENTRY],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    expect(result.errors).toEqual([]);
    const bundle = result.outputFiles[0]!;
    expect(bundle.contents.byteLength).toBeLessThan(MAX_BUNDLE_BYTES);
    // No Node global either, and none of the Node-only modules came along.
    expect(bundle.text).not.toMatch(/\bBuffer\b/);
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((file) => file.endsWith('src/crypto/offline-mark.ts'))).toBe(true);
    expect(inputs.filter((file) => /src\/crypto\/(ed25519|mark-code)\.ts$/.test(file))).toEqual([]);

    const file = path.join(dir, 'offline-mark.mjs');
    fs.writeFileSync(file, bundle.contents);
    const browser = (await import(pathToFileURL(file).href)) as {
      verifyMarkOffline: typeof verifyMarkOffline;
    };

    const signer = issuerKey();
    const serial = generateSerial();
    const code = createMarkCode({ seed: signer.seed, kid: signer.kid, serial });
    // The JWKS as a browser gets it: JSON from /.well-known/jwks.json.
    const jwks = JSON.parse(JSON.stringify({ keys: [signer.jwk] })) as Jwks;
    expect(browser.verifyMarkOffline(code, jwks)).toMatchObject({
      ok: true,
      serial,
      kid: signer.kid,
      issuer: ISSUER,
    });
    expect(browser.verifyMarkOffline(tamper(code, 40, 0x10), jwks)).toMatchObject({
      ok: false,
      reason: 'BAD_SIGNATURE',
    });
  });
});
