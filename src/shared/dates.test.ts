import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { chinaDay, chinaDays, chinaTime } from './dates';
import { isProvinceCode, provinceCodes, regionName } from './provinces';

describe('China Standard Time', () => {
  test('an instant is written in UTC+8, the day turning at midnight in China', () => {
    expect(chinaTime('2026-11-24T16:30:05Z', 'zh')).toBe('2026-11-25 00:30 (北京时间)');
    expect(chinaTime(new Date('2026-11-24T15:59:59Z'), 'en', { seconds: true })).toBe(
      '2026-11-24 23:59:59 China Standard Time',
    );
  });

  test('the day of an instant turns at 16:00 UTC, whatever was asked before', () => {
    expect(chinaDay(new Date('2026-11-24T15:59:59.999Z'))).toBe('2026-11-24');
    expect(chinaDay(new Date('2026-11-24T16:00:00.000Z'))).toBe('2026-11-25');
    expect(chinaDay(new Date('2026-11-24T15:59:59.999Z'))).toBe('2026-11-24');
    expect(() => chinaDay(new Date(Number.NaN))).toThrow(RangeError);
    // Kept days never answer for another: any sequence of instants, near one another or not.
    const instant = fc.oneof(
      fc.integer({ min: -2_208_988_800_000, max: 253_402_300_799_000 }),
      fc.integer({ min: 1_795_000_000_000, max: 1_795_200_000_000 }),
    );
    fc.assert(
      fc.property(fc.array(instant, { maxLength: 20 }), (instants) => {
        for (const t of instants) {
          expect(chinaDay(new Date(t))).toBe(
            new Date(t + 8 * 3_600_000).toISOString().slice(0, 10),
          );
        }
      }),
    );
  });

  test('the last days up to today, oldest first, span whole China days', () => {
    const range = chinaDays(new Date('2026-11-24T16:30:00Z'), 3);
    expect(range.days).toEqual(['2026-11-23', '2026-11-24', '2026-11-25']);
    expect(range.since.toISOString()).toBe('2026-11-22T16:00:00.000Z');
    expect(range.until.toISOString()).toBe('2026-11-25T16:00:00.000Z');
  });
});

describe('GB/T 2260 provinces', () => {
  test('34 province-level divisions, named in both languages', () => {
    expect(provinceCodes).toHaveLength(34);
    expect(isProvinceCode('35')).toBe(true);
    expect(isProvinceCode('39')).toBe(false);
    expect(isProvinceCode('toString')).toBe(false);
    expect(regionName('350100', 'zh')).toBe('福建 (350100)');
    expect(regionName('150100', 'en')).toBe('Inner Mongolia (150100)');
    expect(regionName(null, 'en')).toBeNull();
  });
});
