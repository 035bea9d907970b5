import { base32nopad } from '@scure/base';
import QRCode from 'qrcode';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  generateSigningKey,
  jwkThumbprint,
  markKeyId,
  signEd25519,
  verifyEd25519,
} from './ed25519';
import { CryptoError } from './errors';
import { expectCryptoError } from '../../test/crypto-errors';
import {
  createMarkCode,
  decodeMarkCode,
  extractMarkCode,
  MARK_CODE_LENGTH,
  MARK_SIGNATURE_DOMAIN,
  verifyMarkSignature,
} from './mark-code';
import { findMarkSigner } from './mark-scan';
import { generateSerial, serialCheckDigits, serialToBytes } from './serial';

const toHex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const encode = (payload: Uint8Array) => base32nopad.encode(payload);
const payloadOf = (code: string) => base32nopad.decode(code);

/** Signs an arbitrary 11-byte header as the issuer would, to build codes the codec must refuse. */
function signedPayload(seed: Uint8Array, header: Uint8Array): Uint8Array {
  const message = new Uint8Array([
    ...new TextEncoder().encode(`${MARK_SIGNATURE_DOMAIN}\0`),
    ...header,
  ]);
  const payload = new Uint8Array(75);
  payload.set(header, 0);
  payload.set(signEd25519(seed, message), 11);
  return payload;
}

let seed: Uint8Array;
let publicKey: Uint8Array;
let kid: string;
let serial: string;
let code: string;

beforeAll(() => {
  ({ seed, publicKey } = generateSigningKey());
  kid = jwkThumbprint(publicKey);
  serial = '0' + generateSerial().slice(1, 14);
  serial += serialCheckDigits(serial); // a serial with a leading zero
  code = createMarkCode({ seed, kid, serial });
});

describe('createMarkCode / decodeMarkCode', () => {
  it('gives 120 upper-case base32 characters that decode to the same fields', () => {
    expect(code).toMatch(/^[A-Z2-7]{120}$/);
    expect(code).toHaveLength(MARK_CODE_LENGTH);
    const decoded = decodeMarkCode(code);
    expect(decoded.version).toBe(1);
    expect(decoded.serial).toBe(serial);
    expect(toHex(decoded.keyId)).toBe(toHex(markKeyId(kid)));
    expect(verifyMarkSignature(decoded, publicKey)).toBe(true);
    expect(verifyMarkSignature(decoded, publicKey, { offline: true })).toBe(true);
  });

  it('lays the payload out as SPEC says and signs the domain-separated header', () => {
    const payload = payloadOf(code);
    expect(payload).toHaveLength(75);
    expect(payload[0]).toBe(1);
    expect(toHex(payload.subarray(1, 4))).toBe(toHex(markKeyId(kid)));
    expect(toHex(payload.subarray(4, 11))).toBe(toHex(serialToBytes(serial)));
    const message = Buffer.concat([
      Buffer.from('certmark/mark/v1\0', 'latin1'),
      payload.subarray(0, 11),
    ]);
    expect(toHex(decodeMarkCode(code).signedMessage)).toBe(toHex(message));
    expect(toHex(payload.subarray(11))).toBe(toHex(signEd25519(seed, message)));
  });

  it('is deterministic and distinct per serial', () => {
    expect(createMarkCode({ seed, kid, serial })).toBe(code);
    const other = generateSerial();
    const otherCode = createMarkCode({ seed, kid, serial: other });
    expect(otherCode).not.toBe(code);
    expect(decodeMarkCode(otherCode).serial).toBe(other);
  });

  it('accepts any letter case', () => {
    const mixed = [...code].map((c, i) => (i % 2 ? c.toLowerCase() : c)).join('');
    for (const variant of [code.toLowerCase(), mixed]) {
      const decoded = decodeMarkCode(variant);
      expect(decoded.serial).toBe(serial);
      expect(verifyMarkSignature(decoded, publicKey)).toBe(true);
    }
  });

  it('does not verify under another key', () => {
    const other = generateSigningKey();
    expect(verifyMarkSignature(decodeMarkCode(code), other.publicKey)).toBe(false);
    expect(verifyMarkSignature(decodeMarkCode(code), other.publicKey, { offline: true })).toBe(
      false,
    );
  });

  it('fails decoding or verification for every flipped bit', () => {
    const payload = payloadOf(code);
    const outcomes = { decodeRefused: 0, signatureRefused: 0 };
    for (let bit = 0; bit < 600; bit++) {
      const tampered = payload.slice();
      tampered[bit >> 3]! ^= 0x80 >> (bit & 7);
      let decoded;
      try {
        decoded = decodeMarkCode(encode(tampered));
      } catch (error) {
        expect(error).toBeInstanceOf(CryptoError);
        outcomes.decodeRefused++;
        continue;
      }
      expect(verifyMarkSignature(decoded, publicKey), `bit ${bit}`).toBe(false);
      expect(verifyMarkSignature(decoded, publicKey, { offline: true }), `bit ${bit}`).toBe(false);
      outcomes.signatureRefused++;
    }
    expect(outcomes.decodeRefused + outcomes.signatureRefused).toBe(600);
    expect(outcomes.signatureRefused).toBeGreaterThanOrEqual(512); // every signature bit decodes
  });

  it('refuses a wrong length, trailing data and padding as malformed', () => {
    for (const bad of [
      '',
      code.slice(0, 119),
      code + 'A',
      code + 'AAAAAAAA', // a whole trailing byte group: 80 bytes
      code.slice(0, 119) + '=',
      code + '====',
      code.slice(0, 112) + '========',
    ]) {
      expectCryptoError(() => decodeMarkCode(bad), 'malformed_mark');
    }
  });

  it('refuses characters outside the base32 alphabet', () => {
    for (const c of ['0', '1', '8', '9', '-', ' ', '\u0131' /* ı */, '\u017f' /* ſ */]) {
      expectCryptoError(() => decodeMarkCode(c + code.slice(1)), 'malformed_mark');
      expectCryptoError(
        () => decodeMarkCode(code.slice(0, 60) + c + code.slice(61)),
        'malformed_mark',
      );
    }
    expectCryptoError(() => decodeMarkCode(42 as unknown as string), 'malformed_mark');
  });

  it('refuses an unknown version', () => {
    for (const version of [0, 2, 255]) {
      const payload = payloadOf(code);
      payload[0] = version;
      expectCryptoError(() => decodeMarkCode(encode(payload)), 'unknown_mark_version');
    }
  });

  it('refuses a serial out of range, even when signed', () => {
    const header = payloadOf(code).slice(0, 11);
    header.fill(0xff, 4, 11); // 2^56 - 1 > 10^16
    expectCryptoError(() => decodeMarkCode(encode(signedPayload(seed, header))), 'malformed_mark');
  });

  it('leaves a serial with bad check digits to be judged after the signature', () => {
    const keys = [{ kid, publicKey }];
    const typo = serial.slice(0, 15) + String((Number(serial[15]) + 1) % 10);
    // Signed by the key: no issuer makes one, so it is not a mark.
    const header = payloadOf(code).slice(0, 11);
    header.set(serialToBytes(typo), 4);
    const signed = decodeMarkCode(encode(signedPayload(seed, header)));
    expect(signed).toMatchObject({ serial: typo, serialCheckDigitsValid: false });
    expect(findMarkSigner(signed, keys, verifyMarkSignature)).toMatchObject({
      ok: false,
      reason: 'MALFORMED',
    });
    // A genuine code whose serial was altered: its signature no longer holds.
    const altered = payloadOf(code);
    altered.set(serialToBytes(typo), 4);
    const forged = decodeMarkCode(encode(altered));
    expect(forged.serialCheckDigitsValid).toBe(false);
    expect(findMarkSigner(forged, keys, verifyMarkSignature)).toMatchObject({
      ok: false,
      reason: 'BAD_SIGNATURE',
    });
    expect(findMarkSigner(forged, [], verifyMarkSignature)).toMatchObject({
      reason: 'UNKNOWN_KEY',
    });
    expect(decodeMarkCode(code).serialCheckDigitsValid).toBe(true);
  });

  it('does not accept a credential-style signature over the same bytes', () => {
    const payload = payloadOf(code);
    const header = payload.slice(0, 11);
    // The same key signs the bare header, and a JWS-shaped signing input holding it.
    const jwsSigningInput = new TextEncoder().encode(
      `${Buffer.from('{"alg":"EdDSA","typ":"vc+jwt"}').toString('base64url')}.${Buffer.from(header).toString('base64url')}`,
    );
    for (const message of [header, jwsSigningInput]) {
      const forged = payload.slice();
      forged.set(signEd25519(seed, message), 11);
      const decoded = decodeMarkCode(encode(forged));
      expect(verifyMarkSignature(decoded, publicKey)).toBe(false);
      expect(verifyMarkSignature(decoded, publicKey, { offline: true })).toBe(false);
    }
    // and the mark's signature does not verify over the credential-style input
    expect(verifyEd25519(publicKey, jwsSigningInput, payload.subarray(11))).toBe(false);
  });

  it('refuses bad inputs at creation with the right code', () => {
    expectCryptoError(() => createMarkCode({ seed, kid, serial: '123' }), 'invalid_serial');
    const typo = serial.slice(0, 15) + String((Number(serial[15]) + 1) % 10);
    expectCryptoError(() => createMarkCode({ seed, kid, serial: typo }), 'serial_check_failed');
    expectCryptoError(() => createMarkCode({ seed, kid: 'not-a-kid', serial }), 'invalid_key_id');
    expectCryptoError(
      () => createMarkCode({ seed: new Uint8Array(16), kid, serial }),
      'invalid_seed',
    );
    // a failed call leaves nothing behind for the next one
    expect(createMarkCode({ seed, kid, serial })).toBe(code);
  });
});

describe('extractMarkCode', () => {
  it('finds the code in the mark URL in any case', () => {
    const urls = [
      `HTTP://CERTMARK.EXAMPLE.GOV.CN/M/${code}`,
      `http://certmark.example.gov.cn/m/${code.toLowerCase()}`,
      `Https://CertMark.example.gov.cn:8443/M/${[...code].map((c, i) => (i % 3 ? c.toLowerCase() : c)).join('')}`,
      `https://certmark.example.gov.cn/m/${code}/`,
      `https://certmark.example.gov.cn/m/${code}?utm_source=qr`,
      `https://certmark.example.gov.cn/m/${code}/?lang=en#top`,
      `https://certmark.example.gov.cn/prefix/m/${code}`,
      `  https://certmark.example.gov.cn/m/${code}\n`,
    ];
    for (const url of urls) expect(extractMarkCode(url), url).toEqual({ kind: 'code', code });
  });

  it('takes a bare code in any case', () => {
    expect(extractMarkCode(code)).toEqual({ kind: 'code', code });
    expect(extractMarkCode(` ${code.toLowerCase()} `)).toEqual({ kind: 'code', code });
  });

  it('takes a typed serial with spaces or dashes between digit groups', () => {
    const grouped = serial.match(/.{4}/g)!;
    for (const typed of [
      serial,
      grouped.join(' '),
      grouped.join('-'),
      grouped.join(' - '),
      `  ${grouped.join('  ')}  `,
      // full-width digits and an ideographic space, as a CJK input method types them
      grouped.join('\u3000').replace(/[0-9]/g, (d) => String.fromCharCode(0xff10 + Number(d))),
    ]) {
      expect(extractMarkCode(typed), typed).toEqual({ kind: 'serial', serial });
    }
    // check digits are the caller's business (a typing error is answered with 422)
    const typo = serial.slice(0, 15) + String((Number(serial[15]) + 1) % 10);
    expect(extractMarkCode(typo)).toEqual({ kind: 'serial', serial: typo });
  });

  it('takes the consumer page’s address of a serial as the serial (GET /m/{serial} answers it)', () => {
    for (const url of [
      `https://certmark.example.gov.cn/m/${serial}`,
      `HTTPS://CERTMARK.EXAMPLE.GOV.CN/M/${serial}/`,
      `https://certmark.example.gov.cn/m/${serial}?lang=en#top`,
    ]) {
      expect(extractMarkCode(url), url).toEqual({ kind: 'serial', serial });
    }
    for (const url of [
      `https://certmark.example.gov.cn/m/${serial.slice(1)}`,
      `https://certmark.example.gov.cn/m/1${serial}`,
      `https://certmark.example.gov.cn/x/${serial}`,
      `https://certmark.example.gov.cn/m/${serial.slice(0, 8)} ${serial.slice(8)}`,
    ]) {
      expect(extractMarkCode(url), url).toBeNull();
    }
  });

  it('returns null for anything else', () => {
    for (const garbage of [
      '',
      '   ',
      'hello',
      'https://certmark.example.gov.cn/',
      `https://certmark.example.gov.cn/x/${code}`,
      `https://certmark.example.gov.cn/m/${code.slice(1)}`,
      `https://certmark.example.gov.cn/m/${code}A`,
      `https://certmark.example.gov.cn/m/${code}/extra`,
      `https://certmark.example.gov.cn/m${code}`,
      code.slice(1),
      code + '=',
      '123456789012345',
      '12345678901234567',
      '1234 5678 9012 345a',
      '-1234567890123456',
      '1234567890123456-',
      '1234_5678_9012_3456',
      'x'.repeat(10_000),
      // One canonical encoding, ASCII only: look-alike letters are not the genuine code.
      code.replace(/[A-Z0-9]/g, (c) => String.fromCodePoint(c.charCodeAt(0) + 0xfee0)),
      code.replace('A', '\u0410'), // Cyrillic А
      `https://certmark.example.gov.cn/m/${code.replace(/A/g, '\u{1D400}')}`, // mathematical bold A
      `https://certmark.example.gov.cn\uFF0Fm\uFF0F${code}`, // full-width solidus
      `https://certmark.example.gov.cn/m/${code}\u200B`, // zero-width space
    ]) {
      expect(extractMarkCode(garbage), garbage).toBeNull();
    }
    expect(extractMarkCode(undefined as unknown as string)).toBeNull();
  });
});

describe('QR capacity (SPEC: base URL up to 30 characters fits version 6-M)', () => {
  const alphanumericFits = (text: string, version: number): boolean => {
    try {
      QRCode.create([{ data: text, mode: 'alphanumeric' }], { errorCorrectionLevel: 'M', version });
      return true;
    } catch {
      return false;
    }
  };

  it('fits version 6-M with a 30-character base URL', () => {
    const base = 'HTTP://CERTMARK.EXAMPLE.GOV.CN';
    expect(base).toHaveLength(30);
    const url = `${base}/M/${code}`;
    expect(url.length).toBeLessThanOrEqual(154);
    expect(extractMarkCode(url)).toEqual({ kind: 'code', code });
    expect(alphanumericFits(url, 6)).toBe(true);
  });

  it('leaves one character to spare: 31 fits, 32 does not', () => {
    expect(alphanumericFits(`${'HTTP://CERTMARK.EXAMPLE.GOV.CN2'}/M/${code}`, 6)).toBe(true);
    expect(alphanumericFits(`${'HTTP://CERTMARK.EXAMPLE.GOV.CN22'}/M/${code}`, 6)).toBe(false);
    // e.g. 'HTTP://CERTMARK.EXAMPLE.GOV.CN:8080' is 35 characters: 158 > 154, version 7 needed
    expect(alphanumericFits(`HTTP://CERTMARK.EXAMPLE.GOV.CN:8080/M/${code}`, 6)).toBe(false);
  });
});
