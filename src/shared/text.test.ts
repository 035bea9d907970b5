import { describe, expect, it } from 'vitest';
import { findUnstorableText, quotableText, storableText, unstorableTextProblem } from './text';
import { exemptionPurposeOf } from './schemes';

describe('the text floor', () => {
  it('lets ordinary text through, tab and line breaks included', () => {
    for (const ok of [
      '张三',
      'Acme GmbH',
      'a\tb\r\nc',
      '😀 emoji',
      'Ｘ１',
      'é',
      '\u0085',
      '\u{10FFFD}',
      'שלום \u200f(RLM)\u200e',
    ])
      expect(unstorableTextProblem(ok), JSON.stringify(ok)).toBeNull();
  });

  it('refuses what PostgreSQL or XML cannot hold, and invalid Unicode', () => {
    expect(unstorableTextProblem('a\u0000b')).toMatch(/NUL/);
    expect(unstorableTextProblem('\u0001')).toMatch(/control characters \(U\+0001\)/);
    expect(unstorableTextProblem('\u001b[31m')).toMatch(/U\+001B/);
    expect(unstorableTextProblem('x\ud800')).toMatch(/lone surrogate/);
    expect(unstorableTextProblem('\udfffx')).toMatch(/lone surrogate/);
    expect(unstorableTextProblem('\ufffe')).toMatch(/noncharacter/);
    expect(unstorableTextProblem('\uffff')).toMatch(/noncharacter/);
    expect(unstorableTextProblem('\ufdd0')).toMatch(/noncharacter/);
    expect(unstorableTextProblem('\u{1FFFF}')).toMatch(/noncharacter/);
    expect(unstorableTextProblem('bad \ufffd byte')).toMatch(/UTF-8/);
  });

  it('refuses bidirectional controls: text must read on a page as it is stored and signed', () => {
    // "Acme" shown as "emcA" after a right-to-left override: a name made to look like another.
    expect(unstorableTextProblem('Good Co \u202eoC dooG')).toMatch(
      /bidirectional controls \(U\+202E\)/,
    );
    for (const control of [
      '\u202a',
      '\u202b',
      '\u202c',
      '\u202d',
      '\u2066',
      '\u2067',
      '\u2068',
      '\u2069',
    ])
      expect(unstorableTextProblem(`a${control}b`), JSON.stringify(control)).toMatch(
        /bidirectional/,
      );
  });

  it('finds the first bad string in a parsed body, keys included, and names its path', () => {
    expect(findUnstorableText({ a: ['ok', { b: 'x\u0000' }] })).toEqual({
      path: ['a', 1, 'b'],
      message: 'must not contain NUL (U+0000)',
    });
    expect(findUnstorableText({ ['k\ud800']: 1 })?.message).toMatch(/field names/);
    expect(findUnstorableText({ a: 1, b: [true, null, 'fine'], c: new Date(0) })).toBeNull();
  });

  it('strips what cannot be stored from evidence text', () => {
    expect(storableText('A\u0000B\ud800C\uffffD')).toBe('ABCD');
  });

  it('quotes a client’s text back escaped and cut short, never replayed as sent', () => {
    expect(quotableText('scheme')).toBe('scheme');
    expect(quotableText('名称')).toBe('名称');
    expect(quotableText('a\u0000b\u202Ec\u0085d\u007Fe\ud800')).toBe(
      'a\\u{0000}b\\u{202E}c\\u{0085}d\\u{007F}e\\u{D800}',
    );
    expect(quotableText('x'.repeat(5_000))).toBe(`${'x'.repeat(64)}…`);
    expect(quotableText('😀'.repeat(65))).toBe(`${'😀'.repeat(64)}…`);
  });
});

describe('exemption purposes', () => {
  it('take the SPEC’s words or the codes', () => {
    expect(exemptionPurposeOf('R&D or test samples')).toBe('rd_or_test_samples');
    expect(exemptionPurposeOf('  Production-line   equipment ')).toBe('production_line_equipment');
    expect(exemptionPurposeOf('re-export parts')).toBe('re_export_parts');
    expect(exemptionPurposeOf('DISPLAY ONLY')).toBe('display_only');
    expect(exemptionPurposeOf('repair_parts')).toBe('repair_parts');
    expect(exemptionPurposeOf('resale')).toBeUndefined();
    expect(exemptionPurposeOf('toString')).toBeUndefined();
  });
});
