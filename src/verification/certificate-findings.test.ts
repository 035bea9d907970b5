import { describe, expect, it } from 'vitest';
import type { CertificateRow } from '../db/schema/certificates';
import type { IssuerRow } from '../db/schema/issuers';
import { certificateFindings, type CertificateFacts } from './certificate-findings';

/** An exemption of 30, valid on the day asked about, with `remaining` left. */
function exemptionFacts(remaining: number | null): CertificateFacts {
  const certificate = {
    scheme: 'CCC_EXEMPTION',
    holder: null,
    manufacturer: null,
    factories: [],
    scope: [],
    validFrom: '2026-01-01',
    validUntil: '2027-01-01',
    quantity: 30,
    remaining,
  } as unknown as CertificateRow;
  return {
    certificate,
    issuer: { name: 'Authority' } as IssuerRow,
    status: 'valid',
    statusReason: null,
    issuerStatus: 'active',
    day: '2026-06-01',
    remaining,
  };
}

const codesOf = (facts: CertificateFacts, context: Parameters<typeof certificateFindings>[1]) =>
  certificateFindings(facts, context).map((r) => `${r.code}: ${r.message}`);

describe('certificateFindings: an exemption’s quantity', () => {
  it('is judged only when asked: a certificate’s verification and customs, not a product’s mark', () => {
    const usedUp = exemptionFacts(0);
    expect(codesOf(usedUp, {})).toEqual([]); // a mark: its unit was imported already
    expect(codesOf(usedUp, { quantity: 1 })).toEqual([
      'QUANTITY_EXHAUSTED: the exempted quantity is used up (0 of 30 remain)',
    ]);
    expect(codesOf(exemptionFacts(5), { quantity: 6, declared: true })).toEqual([
      'QUANTITY_EXHAUSTED: the declaration imports 6 but only 5 of 30 remain',
    ]);
    expect(codesOf(exemptionFacts(5), { quantity: 5, declared: true })).toEqual([]);
    expect(codesOf(exemptionFacts(1), { quantity: 1 })).toEqual([]);
    // A past instant has no remaining to judge by.
    expect(codesOf(exemptionFacts(null), { quantity: 1 })).toEqual([]);
  });
});
