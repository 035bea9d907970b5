import { SaxesParser } from 'saxes';
import { describe, expect, it } from 'vitest';
import { labelSheetSvg } from './label-sheet';

/** Parses `xml` with saxes, a conforming XML 1.0 parser; throws on the first well-formedness error. */
function parseXml(xml: string): number {
  const parser = new SaxesParser({ xmlns: true });
  let elements = 0;
  let failure: Error | undefined;
  parser.on('error', (error) => {
    failure ??= error;
  });
  parser.on('opentag', () => (elements += 1));
  parser.write(xml).close();
  if (failure) throw failure;
  return elements;
}

describe('label sheets are well-formed XML whatever their text holds', () => {
  const hostile =
    'Lot \u0001\u0008\u000b\u001f <b>&amp;</b> "q" \'a\' \ud800 \uffff\ufffe ]]> 批次 😀';
  const sheet = labelSheetSvg({
    labels: [{ serial: '1234567890123456', url: 'HTTPS://CERTMARK.TEST/M/ABC' }],
    certificateLine: `CCC 2024-${hostile}`,
    footer: `certmark · ${hostile} · page 1/1`,
  });

  it('parses with a conforming XML parser', () => {
    expect(parseXml(sheet)).toBeGreaterThan(5);
  });

  it('keeps the printable text, escaped, and leaves out only what XML cannot hold', () => {
    expect(sheet).toContain(
      'Lot  &lt;b&gt;&amp;amp;&lt;/b&gt; &quot;q&quot; &#39;a&#39;   ]]&gt; 批次 😀',
    );
    // the parser itself refuses what was left out: the check above is not vacuous
    expect(() => parseXml('<a>\u0001</a>')).toThrow(/disallowed character/);
    expect(() => parseXml('<a>\uffff</a>')).toThrow(/disallowed character/);
  });
});
