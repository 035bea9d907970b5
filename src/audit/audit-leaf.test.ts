import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../crypto/canonical-json';
import { leafHash } from '../crypto/merkle';
import {
  auditLeafData,
  auditLeafHashes,
  auditLeafText,
  type AuditLeafFields,
} from './audit.queries';

// Any UTF-16 code units, lone surrogates among them (fast-check's 'binary' unit makes none).
const text = fc.string({
  unit: fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit)),
  maxLength: 40,
});
const entry: fc.Arbitrary<AuditLeafFields> = fc.record({
  at: fc.date({ min: new Date(-8.64e15), max: new Date(8.64e15), noInvalidDate: true }),
  actorKeyId: fc.option(fc.uuid()),
  actorRole: fc.option(text),
  signatory: fc.option(fc.jsonValue()),
  action: text,
  subjectType: text,
  subjectId: text,
  changeDigest: fc.stringMatching(/^[0-9a-f]{64}$/),
});
const seq = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });

/** The leaf's definition: the entry's fields as one record, in canonical JSON. */
const definition = (e: AuditLeafFields, s: number) =>
  canonicalJson({
    seq: s,
    at: typeof e.at === 'string' ? e.at : e.at.toISOString(),
    actorKeyId: e.actorKeyId,
    actorRole: e.actorRole,
    signatory: e.signatory ?? null,
    action: e.action,
    subjectType: e.subjectType,
    subjectId: e.subjectId,
    changeDigest: e.changeDigest,
  });

describe('audit leaf encoding', () => {
  it('writes exactly the canonical JSON of the entry, whatever its strings hold', () => {
    fc.assert(
      fc.property(entry, seq, (e, s) => {
        expect(auditLeafText({ ...e, seq: s })).toBe(definition(e, s));
      }),
      { numRuns: 500 },
    );
  });

  it('leaves out a member that is undefined, as canonicalJson does (an entry read from JSON)', () => {
    const e = { ...fc.sample(entry, 1)[0]!, actorKeyId: undefined as unknown as null };
    expect(auditLeafText({ ...e, seq: 3 })).toBe(definition(e, 3));
    expect(auditLeafText({ ...e, seq: 3 })).not.toContain('actorKeyId');
  });

  it('writes a time given as toISOString text as it writes the instant (how the sequencer reads it)', () => {
    fc.assert(
      fc.property(entry, seq, (e, s) => {
        const printed = { ...e, at: (e.at as Date).toISOString() };
        expect(auditLeafText({ ...printed, seq: s })).toBe(auditLeafText({ ...e, seq: s }));
      }),
      { numRuns: 200 },
    );
  });

  it('hashes a batch as SHA-256(0x00 || leaf data) per entry, with consecutive seqs', () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 8 }), seq, (entries, first) => {
        const hashes = auditLeafHashes(entries, first);
        expect(hashes.length).toBe(entries.length * 32);
        entries.forEach((e, i) => {
          const expected = leafHash(new TextEncoder().encode(definition(e, first + i)));
          expect(hashes.subarray(i * 32, i * 32 + 32)).toEqual(expected);
          expect(auditLeafData({ ...e, seq: first + i })).toEqual(
            new TextEncoder().encode(definition(e, first + i)),
          );
        });
      }),
      { numRuns: 200 },
    );
  });
});
