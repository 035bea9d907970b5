import { expect } from 'vitest';
import { CryptoError, type CryptoErrorCode } from '../src/crypto/errors';

/** Asserts that `action` throws a `CryptoError` with exactly this code (jose's habit). */
export function expectCryptoError(action: () => unknown, code: CryptoErrorCode): void {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(CryptoError);
    expect((error as CryptoError).code).toBe(code);
    return;
  }
  expect.unreachable(`expected CryptoError ${code}`);
}
