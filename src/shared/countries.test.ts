import { describe, expect, it } from 'vitest';
import { ISO_3166_ALPHA2, isCountryCode } from './countries';

describe('ISO 3166-1 alpha-2 codes', () => {
  it('are the 249 officially assigned ones', () => {
    expect(ISO_3166_ALPHA2.size).toBe(249);
    for (const code of ['CN', 'HK', 'MO', 'TW', 'DE', 'US', 'SS', 'AX']) {
      expect(isCountryCode(code), code).toBe(true);
    }
    // Reserved, withdrawn or user-assigned; and not in capitals.
    for (const code of ['XX', 'XK', 'EU', 'UK', 'YU', 'AN', 'ZZ', 'cn', 'CHN', '']) {
      expect(isCountryCode(code), code).toBe(false);
    }
  });
});
