/** Certification schemes (SPEC "Certificates"). */
export const schemes = [
  'CCC',
  'CCC_EXEMPTION',
  'ORGANIC',
  'GAP',
  'GREEN',
  'SERVICE',
  'ISO9001',
  'ISO14001',
  'ISO45001',
  'ISO27001',
  'OTHER',
] as const;
export type Scheme = (typeof schemes)[number];

/** Why a CCC exemption was granted (免予办理强制性产品认证的情形). */
export const exemptionPurposes = [
  'rd_or_test_samples',
  'repair_parts',
  'production_line_equipment',
  'display_only',
  're_export_parts',
  'other',
] as const;
export type ExemptionPurpose = (typeof exemptionPurposes)[number];

/**
 * The purposes as the SPEC words them ("R&D or test samples, repair parts, production-line
 * equipment, display only, re-export parts, other — these words or their codes").
 */
export const exemptionPurposeWords: Readonly<Record<ExemptionPurpose, string>> = {
  rd_or_test_samples: 'R&D or test samples',
  repair_parts: 'repair parts',
  production_line_equipment: 'production-line equipment',
  display_only: 'display only',
  re_export_parts: 're-export parts',
  other: 'other',
};

const spelling = (text: string) => text.trim().replace(/\s+/g, ' ').toLowerCase();
const purposeBySpelling = new Map<string, ExemptionPurpose>(
  exemptionPurposes.flatMap((code) => [
    [code, code],
    [spelling(exemptionPurposeWords[code]), code],
  ]),
);

/**
 * The purpose code for a code or the SPEC's words (any letter case and spacing); undefined for
 * anything else.
 *
 * @example
 * exemptionPurposeOf('R&D or test samples'); // 'rd_or_test_samples'
 * exemptionPurposeOf('display_only'); // 'display_only'
 */
export function exemptionPurposeOf(text: string): ExemptionPurpose | undefined {
  return purposeBySpelling.get(spelling(text)) ?? purposeBySpelling.get(text);
}
