import { randomBytes } from 'node:crypto';
import { base32nopad } from '@scure/base';
import { generateSigningKey } from '../crypto/ed25519';
import { jwkThumbprint } from '../crypto/ed25519-core';
import { createMarkCode } from '../crypto/mark-code';
import { generateSerial } from '../crypto/serial';
import { describe, expect, it } from 'vitest';
import { redactPath, redactText } from './redact';

const code = 'AF2FBGYY'.padEnd(120, 'Q7');
/** The characters of a code a redacted text keeps. */
const KEPT = 8;
const escaped = (text: string) =>
  [...text].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('');

describe('redactPath', () => {
  it.each([
    ['the consumer path', `/m/${code}`],
    ['a code after an encoded space or tab', `/m/%20${code}`, `/m/%09${code}`],
    ['a whole mark URL encoded into one segment', `/m/http%3A%2F%2Flocalhost%3A3917%2Fm%2F${code}`],
    ['a code spelt in percent escapes', `/m/${escaped(code)}`],
    ['a code in lower case under another route', `/v1/verify/mark/${code.toLowerCase()}`],
    ['a code where a serial belongs', `/v1/marks/${code}/qr.svg`],
    ['an empty segment before it', `/m//${code}`],
  ])('never keeps a whole mark code: %s', (_, ...paths) => {
    for (const path of paths) {
      const redacted = redactPath(path);
      expect(redacted.toUpperCase()).not.toContain(code.slice(0, 24));
      expect(redacted).toContain('…');
    }
  });

  it('cuts API keys and credential segments too', () => {
    const key = `cm_${'Zk9'.repeat(15)}`;
    expect(redactPath(`/x/${key}`)).toBe('/x/cm_Zk9Zk…');
    expect(redactPath('/x/eyJhbGciOiJFZERTQSIsInR5cCI6InZjK2p3dCJ9.e30.sig')).toBe(
      '/x/eyJhbGci….e30.sig',
    );
  });

  it('leaves ordinary paths, ids, serials and bad escapes as they are', () => {
    const id = '0b7f3c1e-5a2d-4e8f-9c61-2d3e4f5a6b7c';
    expect(redactPath(`/v1/certificates/${id}/qr.svg`)).toBe(`/v1/certificates/${id}/qr.svg`);
    expect(redactPath('/v1/marks/1234567890123456/void')).toBe('/v1/marks/1234567890123456/void');
    expect(redactPath('/v1/x/%ZZ%C0%AF')).toBe('/v1/x/%ZZ%C0%AF');
  });

  it('cuts a code in a consumer’s words, and keeps the words, serials and ids', () => {
    const id = '0b7f3c1e-5a2d-4e8f-9c61-2d3e4f5a6b7c';
    expect(
      redactText(`扫了 https://certmark.test/m/${code} 显示伪造, 1234567890123456, ${id}`),
    ).toBe(`扫了 https://certmark.test/m/AF2FBGYY… 显示伪造, 1234567890123456, ${id}`);
    expect(redactText(code.toLowerCase())).toBe('af2fbgyy…');
  });

  it('cuts a code typed in full-width letters, and keeps full-width punctuation', () => {
    const fullWidth = [...code]
      .map((c) => String.fromCodePoint(c.codePointAt(0)! + 0xfee0))
      .join('');
    expect(redactText(`码：${fullWidth}，假的`)).toBe(`码：${fullWidth.slice(0, 8)}…，假的`);
  });
});

describe('a code written in groups', () => {
  /** A code as the service makes them: signed, a serial with its check digits. */
  const freshCode = () => {
    const { seed, publicKey } = generateSigningKey();
    return createMarkCode({ seed, kid: jwkThumbprint(publicKey), serial: generateSerial() });
  };
  const groupsOf = (text: string, size: number) => text.match(new RegExp(`.{1,${size}}`, 'g'))!;
  /** What of `whole` the text still spells, its separators taken out: at most a short piece. */
  const longestPieceOf = (whole: string, text: string) => {
    const letters = text.replace(/[^A-Za-z0-9]/g, '').toUpperCase();
    let longest = 0;
    for (let i = 0; i < whole.length; i++)
      for (
        let n = longest + 1;
        i + n <= whole.length && letters.includes(whole.slice(i, i + n));
        n++
      )
        longest = n;
    return longest;
  };

  it.each([' ', '%20', '%0A', '\n', '.', '+', '/', ':', ',', '*', ' - ', ' -- '])(
    'is cut like a code in one piece, whatever joins its groups: %j',
    (separator) => {
      for (const whole of [freshCode(), freshCode().toLowerCase()])
        for (const size of [2, 3, 4, 5, 7, 8, 20]) {
          const redacted = redactPath(`/m/${groupsOf(whole, size).join(separator)}`);
          expect(redacted).toBe(`/m/${whole.slice(0, KEPT)}…`);
        }
    },
  );

  it('is cut in groups of any lengths, in rows, twice, and among words, which stay', () => {
    const one = freshCode();
    const other = freshCode();
    const rows = groupsOf(one, 30)
      .map((row) => groupsOf(row, 5).join(' '))
      .join('\n');
    const uneven = [one.slice(0, 5), one.slice(5, 11), one.slice(11, 18), one.slice(18)].join(' ');
    for (const [text, words] of [
      [`码是 ${groupsOf(one, 4).join(' ')} 假的`, ['码是', '假的']],
      [`/v1/verify/mark/${groupsOf(one, 10).join('.')}`, ['/v1/verify/mark/']],
      [`the mp3 file: ${groupsOf(one, 4).join(' ')} is fake`, ['the mp3 file: ', ' is fake']],
      [`item A2B3 then ${groupsOf(one, 4).join(' ')}`, ['item A2B3 then ']],
      [`${rows}\nsee above`, ['see above']],
      [
        `first ${uneven}, again ${groupsOf(one, 6).join(' ')} and ${groupsOf(other, 6).join(' ')}`,
        ['first ', ', again ', ' and '],
      ],
    ] as const) {
      const redacted = redactText(text);
      for (const word of words) expect(redacted, text).toContain(word);
      expect(longestPieceOf(one, redacted), text).toBeLessThanOrEqual(KEPT + 2);
      expect(longestPieceOf(other, redacted), text).toBeLessThanOrEqual(KEPT + 2);
    }
  });

  it('leaves sentences, models, serials and base32 that is no code alone', () => {
    for (const text of [
      'I bought this at the market and the label looks wrong because the print is blurred',
      'THE QR CODE ON THIS PRODUCT DOES NOT SCAN AND THE BOX LOOKS USED',
      '型号 XR-2000 买了 3 件, serial 2345 6723 4567 2345, lot AB-77',
      'model TX3 and model TX4, see page 25 of 27',
      groupsOf(base32nopad.encode(randomBytes(75)).replace(/^A/, 'B'), 4).join(' '),
    ])
      expect(redactText(text)).toBe(text);
  });

  it('takes linear time on a long run of letters (a request path, or a report)', () => {
    for (const text of ['A'.repeat(32_000), 'AB '.repeat(10_000), 'A2 '.repeat(10_000)]) {
      const started = performance.now();
      redactText(text);
      // Quadratic backtracking took 2.4 s on 32,000 letters; a linear walk, a few milliseconds.
      expect(performance.now() - started).toBeLessThan(500);
    }
  });
});

describe('redactText', () => {
  it('never decodes an escape into a character the text floor refuses', () => {
    expect(redactText('%00 and %0A and %7F')).toBe('%00 and %0A and %7F');
    expect(redactText('%E2%80%A6 stays')).toBe('%E2%80%A6 stays');
  });
});
