/**
 * Checks for the identifiers certmark takes from outside (SPEC "Identifiers and validation"):
 * the Unified Social Credit Code of a holder or issuer, GB/T 2260 region codes and customs
 * declaration numbers. Pure functions; no normalisation — a lowercase or padded code is refused,
 * not repaired, so what is stored and signed is exactly what was checked.
 */

import { isProvinceCode } from './provinces';

// ---------------------------------------------------------------------------------------------
// Unified Social Credit Code (统一社会信用代码), GB 32100-2015
// ---------------------------------------------------------------------------------------------

/**
 * The GB 32100-2015 code alphabet; a character's value is its index. I, O, S, V and Z are left
 * out, being easy to confuse with 1, 0, 5, U and 2.
 */
const USCC_ALPHABET = '0123456789ABCDEFGHJKLMNPQRTUWXY';

/** GB 32100-2015 check-character weights for positions 1–17 (3^(i-1) mod 31). */
const USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28] as const;

/** GB 11714 organisation-code check weights for its first 8 characters. */
const ORGANIZATION_CODE_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2] as const;

const USCC_PATTERN = /^[0-9A-HJ-NPQRTUWXY]{18}$/;

export type UsccProblem =
  | 'must be 18 characters'
  | 'invalid character'
  | 'organization code check failed'
  | 'check character mismatch';

/**
 * The GB 32100-2015 check character for the first 17 characters of a code:
 * C18 = 31 − (Σ value(cᵢ)·wᵢ mod 31), where 31 becomes 0.
 *
 * @example
 * usccCheckCharacter('91440300192203821'); // '6'
 */
export function usccCheckCharacter(first17: string): string {
  if (!/^[0-9A-HJ-NPQRTUWXY]{17}$/.test(first17)) {
    throw new RangeError('expected the first 17 characters of a Unified Social Credit Code');
  }
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += USCC_ALPHABET.indexOf(first17[i]!) * USCC_WEIGHTS[i]!;
  return USCC_ALPHABET[(31 - (sum % 31)) % 31]!;
}

/**
 * The GB 11714 check character for the first 8 characters of an organisation code (digits count
 * their value, letters A=10 … Z=35): 11 − (Σ value·w mod 11), where 10 is written X and 11 is 0.
 *
 * @example
 * organizationCodeCheckCharacter('19220382'); // '1'
 */
export function organizationCodeCheckCharacter(first8: string): string {
  if (!/^[0-9A-Z]{8}$/.test(first8)) {
    throw new RangeError('expected the first 8 characters of an organization code');
  }
  let sum = 0;
  for (let i = 0; i < 8; i++) sum += parseInt(first8[i]!, 36) * ORGANIZATION_CODE_WEIGHTS[i]!;
  const check = 11 - (sum % 11);
  return check === 10 ? 'X' : check === 11 ? '0' : String(check);
}

/**
 * Why `code` is not a valid Unified Social Credit Code, or null if it is. Both checks of the
 * standard are enforced: characters 9–17 are a GB 11714 organisation code with its own mod-11 check
 * (position 17), and character 18 is the GB 32100-2015 mod-31 check over the first 17. A code
 * forged by fixing up only the last character still fails the first check.
 *
 * @example
 * usccProblem('914403001922038216'); // null
 * usccProblem('914403001922038217'); // 'check character mismatch'
 */
export function usccProblem(code: string): UsccProblem | null {
  if (typeof code !== 'string' || code.length !== 18) return 'must be 18 characters';
  if (!USCC_PATTERN.test(code)) return 'invalid character';
  const organizationCode = code.slice(8, 17);
  if (organizationCodeCheckCharacter(organizationCode.slice(0, 8)) !== organizationCode[8]) {
    return 'organization code check failed';
  }
  if (usccCheckCharacter(code.slice(0, 17)) !== code[17]) return 'check character mismatch';
  return null;
}

/**
 * Whether `code` is a valid Unified Social Credit Code (GB 32100-2015), both check characters
 * included. Uppercase only.
 *
 * @example
 * isValidUscc('9144030071526726XG'); // true
 */
export function isValidUscc(code: string): boolean {
  return usccProblem(code) === null;
}

// ---------------------------------------------------------------------------------------------
// Administrative division codes, GB/T 2260
// ---------------------------------------------------------------------------------------------

/**
 * Whether `code` is a six-digit GB/T 2260 administrative division code under a real province
 * (./provinces.ts).
 * Only the province is checked against the standard: the prefecture and county digits change with
 * every redistricting, and an old certificate must keep naming the region it was issued for.
 *
 * @example
 * isValidRegionCode('350100'); // true (Fuzhou)
 */
export function isValidRegionCode(code: string): boolean {
  return typeof code === 'string' && /^\d{6}$/.test(code) && isProvinceCode(code.slice(0, 2));
}

/**
 * The province-level code (first two digits) of a GB/T 2260 region code.
 * Throws a RangeError for anything {@link isValidRegionCode} refuses.
 *
 * @example
 * provinceOf('350100'); // '35' (Fujian)
 */
export function provinceOf(region: string): string {
  if (!isValidRegionCode(region)) {
    throw new RangeError('region must be a six-digit GB/T 2260 administrative division code');
  }
  return region.slice(0, 2);
}

// ---------------------------------------------------------------------------------------------
// Customs declaration number (报关单号)
// ---------------------------------------------------------------------------------------------

/**
 * Whether `declarationNo` is a customs declaration number: exactly 18 ASCII digits.
 *
 * @example
 * isValidDeclarationNo('223320240001234567'); // true
 */
export function isValidDeclarationNo(declarationNo: string): boolean {
  return typeof declarationNo === 'string' && /^\d{18}$/.test(declarationNo);
}

/** An RFC 9562 UUID in its canonical text form (any letter case): the ids of this service. */
export function isUuid(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
}
