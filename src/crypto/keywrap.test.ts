import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KeyWrapError, unwrapKey, wrapKey } from './keywrap';

describe('key wrapping', () => {
  const kek = new Uint8Array(randomBytes(32));
  const seed = new Uint8Array(randomBytes(32));

  it('round-trips, and the wrapped form does not contain the seed', () => {
    const wrapped = wrapKey(kek, seed, 'issuer-a:kid-1');
    expect(Buffer.from(wrapped).includes(Buffer.from(seed))).toBe(false);
    expect(unwrapKey(kek, wrapped, 'issuer-a:kid-1')).toEqual(seed);
  });

  it('refuses another KEK, other associated data (a wrapped key moved to another row) and any flipped bit', () => {
    const wrapped = wrapKey(kek, seed, 'issuer-a:kid-1');
    expect(() => unwrapKey(new Uint8Array(randomBytes(32)), wrapped, 'issuer-a:kid-1')).toThrow(
      KeyWrapError,
    );
    expect(() => unwrapKey(kek, wrapped, 'issuer-b:kid-1')).toThrow(KeyWrapError);
    for (let i = 0; i < wrapped.length; i += 7) {
      const tampered = wrapped.slice();
      tampered[i]! ^= 1;
      expect(() => unwrapKey(kek, tampered, 'issuer-a:kid-1')).toThrow(KeyWrapError);
    }
  });
});
