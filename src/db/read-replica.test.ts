import { describe, expect, it } from 'vitest';
import { lsnValue } from './read-replica';

describe('lsnValue', () => {
  it('orders WAL positions as PostgreSQL does (high and low halves, hex)', () => {
    expect(lsnValue('0/0')).toBe(0n);
    expect(lsnValue('16/B374D848')).toBe((0x16n << 32n) + 0xb374d848n);
    // Text order would put '9/FFFFFFFF' after '10/0'; the positions say otherwise.
    expect(lsnValue('9/FFFFFFFF') < lsnValue('10/0')).toBe(true);
    expect(lsnValue('1/A') < lsnValue('1/1A')).toBe(true);
  });
});
