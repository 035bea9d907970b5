import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical-json';

/**
 * The definition, written the slow, obvious way (as this module was first written, and the audit
 * log's early leaves were hashed): every member as a pair, the pairs sorted, then joined. (Sorting
 * an object's keys and stringifying it would not do: JavaScript lists integer-like keys first.)
 */
function reference(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => reference(v ?? null)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${reference(v)}`).join(',')}}`;
}

describe('canonicalJson', () => {
  it('sorts keys by code unit, drops undefined members, writes null for undefined in arrays', () => {
    expect(canonicalJson({ b: 1, a: [undefined, { d: undefined, c: 'é' }], A: null })).toBe(
      '{"A":null,"a":[null,{"c":"é"}],"b":1}',
    );
    expect(canonicalJson({ '': false, 10: 1, 9: 2 })).toBe('{"":false,"10":1,"9":2}');
    // U+E000 sorts after U+1F600 (a surrogate pair starting 0xD83D) by UTF-16 code units.
    expect(canonicalJson({ '\u{e000}': 1, '\u{1f600}': 2 })).toBe('{"\u{1f600}":2,"\u{e000}":1}');
    expect(canonicalJson(undefined)).toBe('null');
    expect(canonicalJson([])).toBe('[]');
    expect(canonicalJson({})).toBe('{}');
  });

  it('equals the definition for any JSON-like value', () => {
    const member = fc.oneof(fc.constant(undefined), fc.jsonValue());
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        fc.jsonValue(),
        fc.array(fc.oneof(member, tie('node'))),
        fc.dictionary(fc.string({ unit: 'binary' }), fc.oneof(member, tie('node'))),
      ),
    })).node;
    fc.assert(
      fc.property(value, (v) => {
        expect(canonicalJson(v)).toBe(reference(v));
      }),
      { numRuns: 500 },
    );
  });
});
