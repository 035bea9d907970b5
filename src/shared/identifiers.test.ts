import { describe, expect, test } from 'vitest';
import {
  isUuid,
  isValidDeclarationNo,
  isValidRegionCode,
  isValidUscc,
  organizationCodeCheckCharacter,
  provinceOf,
  usccCheckCharacter,
  usccProblem,
} from './identifiers';

// The two valid codes given in SPEC "Identifiers and validation".
const VALID_USCCS = ['914403001922038216', '9144030071526726XG'];
const ALPHABET = '0123456789ABCDEFGHJKLMNPQRTUWXY';

/**
 * The mod-31 check character computed independently of the module under test, straight from
 * GB 32100-2015, so forged codes below do not lean on the code they are meant to test.
 */
function mod31Check(first17: string): string {
  const weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
  const sum = [...first17].reduce((acc, c, i) => acc + ALPHABET.indexOf(c) * weights[i]!, 0);
  return ALPHABET[(31 - (sum % 31)) % 31]!;
}

describe('Unified Social Credit Code (GB 32100-2015)', () => {
  test.each(VALID_USCCS)('%s is valid', (code) => {
    expect(isValidUscc(code)).toBe(true);
    expect(usccProblem(code)).toBeNull();
  });

  test('the check-character helpers reproduce the examples', () => {
    expect(usccCheckCharacter('91440300192203821')).toBe('6');
    expect(usccCheckCharacter('9144030071526726X')).toBe('G');
    expect(organizationCodeCheckCharacter('19220382')).toBe('1');
    expect(organizationCodeCheckCharacter('71526726')).toBe('X');
    expect(() => usccCheckCharacter('9144030019220382')).toThrow(RangeError);
    expect(() => organizationCodeCheckCharacter('1922038')).toThrow(RangeError);
  });

  test.each(VALID_USCCS)('every single-character change of %s is refused', (code) => {
    let variants = 0;
    for (let position = 0; position < 18; position++) {
      for (const replacement of `${ALPHABET}IOSVZ`) {
        if (replacement === code[position]) continue;
        const changed = code.slice(0, position) + replacement + code.slice(position + 1);
        expect(isValidUscc(changed), changed).toBe(false);
        expect(usccProblem(changed), changed).not.toBeNull();
        variants++;
      }
    }
    expect(variants).toBe(18 * 35);
  });

  test('a code whose last character was fixed up but whose organization code is wrong is refused', () => {
    // Change the GB 11714 check character (position 17), then recompute the final mod-31
    // character so that check alone would pass: only the organization-code check catches it.
    const [genuine] = VALID_USCCS;
    const first16 = genuine!.slice(0, 16);
    const wrongOrgCheck = genuine![16] === '2' ? '3' : '2';
    const forged = first16 + wrongOrgCheck + mod31Check(first16 + wrongOrgCheck);
    expect(mod31Check(forged.slice(0, 17))).toBe(forged[17]);
    expect(isValidUscc(forged)).toBe(false);
    expect(usccProblem(forged)).toBe('organization code check failed');
  });

  test('an organization code that is right with a wrong final character is refused', () => {
    expect(usccProblem('914403001922038217')).toBe('check character mismatch');
    expect(usccProblem('9144030071526726XH')).toBe('check character mismatch');
  });

  test.each([
    ['lowercase', '9144030071526726xg', 'invalid character'],
    ['lowercase letter inside', '91440300715267a6XG', 'invalid character'],
    ['17 characters', '91440300192203821', 'must be 18 characters'],
    ['19 characters', '9144030019220382160', 'must be 18 characters'],
    ['empty', '', 'must be 18 characters'],
    ['surrounding space', ' 914403001922038216', 'must be 18 characters'],
    ['internal space', '9144030019 2038216', 'invalid character'],
    ['full-width digit', '９14403001922038216', 'invalid character'],
    ['trailing newline', '91440300192203821\n', 'invalid character'],
  ] as const)('%s is refused', (_label, code, problem) => {
    expect(isValidUscc(code)).toBe(false);
    expect(usccProblem(code)).toBe(problem);
  });

  test.each(['I', 'O', 'S', 'V', 'Z'])('the letter %s is refused anywhere', (letter) => {
    for (let position = 0; position < 18; position++) {
      const code = VALID_USCCS[1]!;
      const changed = code.slice(0, position) + letter + code.slice(position + 1);
      expect(usccProblem(changed)).toBe('invalid character');
    }
  });

  test('a non-string is refused rather than thrown on', () => {
    expect(isValidUscc(914403 as unknown as string)).toBe(false);
    expect(isValidUscc(undefined as unknown as string)).toBe(false);
  });
});

describe('region codes (GB/T 2260)', () => {
  test.each(['350100', '110000', '110101', '440300', '650000', '710000', '810000', '820000'])(
    '%s is valid',
    (code) => {
      expect(isValidRegionCode(code)).toBe(true);
    },
  );

  test.each([
    ['unknown province 00', '000000'],
    ['unknown province 10', '100000'],
    ['unknown province 24', '240000'],
    ['unknown province 66', '660000'],
    ['unknown province 99', '990000'],
    ['five digits', '35010'],
    ['seven digits', '3501000'],
    ['letter', '35010A'],
    ['sign', '+35010'],
    ['space', '350 10'],
    ['empty', ''],
    ['full-width digits', '３５０１００'],
  ])('%s (%s) is refused', (_label, code) => {
    expect(isValidRegionCode(code)).toBe(false);
    expect(() => provinceOf(code)).toThrow(RangeError);
  });

  test('provinceOf gives the first two digits', () => {
    expect(provinceOf('350100')).toBe('35');
    expect(provinceOf('110101')).toBe('11');
    expect(provinceOf('820000')).toBe('82');
  });

  test('all 34 province-level prefixes are accepted', () => {
    const accepted = Array.from({ length: 100 }, (_, n) => String(n).padStart(2, '0')).filter(
      (province) => isValidRegionCode(`${province}0000`),
    );
    expect(accepted).toEqual(
      '11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82'.split(
        ' ',
      ),
    );
  });
});

describe('customs declaration numbers', () => {
  test.each(['223320240001234567', '000000000000000000'])('%s is valid', (declarationNo) => {
    expect(isValidDeclarationNo(declarationNo)).toBe(true);
  });

  test.each([
    ['17 digits', '22332024000123456'],
    ['19 digits', '2233202400012345678'],
    ['letter', '22332024000123456A'],
    ['hyphen', '2233-2024000123456'],
    ['trailing newline', '223320240001234567\n'],
    ['full-width digit', '２23320240001234567'],
    ['empty', ''],
  ])('%s is refused', (_label, declarationNo) => {
    expect(isValidDeclarationNo(declarationNo)).toBe(false);
  });
});

describe('ids', () => {
  test.each(['0f8fad5b-d9cb-469f-a165-70867728950e', '0F8FAD5B-D9CB-469F-A165-70867728950E'])(
    '%s is a UUID',
    (id) => expect(isUuid(id)).toBe(true),
  );

  test.each([
    ['braces', '{0f8fad5b-d9cb-469f-a165-70867728950e}'],
    ['no hyphens', '0f8fad5bd9cb469fa16570867728950e'],
    ['trailing newline', '0f8fad5b-d9cb-469f-a165-70867728950e\n'],
    ['a name', 'Registry Body'],
  ])('%s is not', (_label, id) => expect(isUuid(id)).toBe(false));
});
