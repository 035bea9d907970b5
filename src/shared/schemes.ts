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
