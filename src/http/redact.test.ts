import { describe, expect, it } from 'vitest';
import { redactPath, redactText } from './redact';

const code = 'AF2FBGYY'.padEnd(120, 'Q7');
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

describe('redactText', () => {
  it('never decodes an escape into a character the text floor refuses', () => {
    expect(redactText('%00 and %0A and %7F')).toBe('%00 and %0A and %7F');
    expect(redactText('%E2%80%A6 stays')).toBe('%E2%80%A6 stays');
  });
});
