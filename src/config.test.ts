import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config';

describe('ADMIN_API_KEY', () => {
  const random = 'cm_' + 'a1B2c3D4e5F6g7H8i9J0k1L2m3';

  it('is taken as one token', () => {
    expect(loadConfig({ ADMIN_API_KEY: random }).adminApiKey).toBe(random);
  });

  it('is refused with a space, a line break or nothing in it: it could never be presented', () => {
    for (const value of ['', '   ', `${random} `, ` ${random}`, `${random}\n`, 'two words']) {
      expect(() => loadConfig({ ADMIN_API_KEY: value }), JSON.stringify(value)).toThrow(
        /ADMIN_API_KEY: must be one token/,
      );
    }
  });

  it('is refused shorter than 128 bits of base64 in production, and only there', () => {
    expect(() => loadConfig({ ADMIN_API_KEY: 'short123', NODE_ENV: 'production' })).toThrow(
      ConfigError,
    );
    expect(() => loadConfig({ ADMIN_API_KEY: 'short123', NODE_ENV: 'production' })).toThrow(
      /ADMIN_API_KEY: shorter than 22 characters/,
    );
    expect(loadConfig({ ADMIN_API_KEY: 'short123' }).adminApiKey).toBe('short123');
    expect(
      loadConfig({ ADMIN_API_KEY: random.slice(0, 22), NODE_ENV: 'production' }).adminApiKey,
    ).toBe(random.slice(0, 22));
  });
});
