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

describe('addresses', () => {
  it('takes PUBLIC_BASE_URL only as an http(s) base a path can follow', () => {
    for (const good of ['https://certmark.example', 'http://localhost:3000', 'https://x.cn/base/'])
      expect(() => loadConfig({ PUBLIC_BASE_URL: good }), good).not.toThrow();
    // Each built public URLs that pointed nowhere (an outside probe): another scheme, the path in
    // the query or the fragment, no host at all.
    for (const bad of [
      'ftp://example.com',
      'http://example.com/base?x=1',
      'http://example.com/base#f',
      'javascript:x',
      'data:text/html,hi',
      'http://example.com/base?',
      'http://example.com/base#',
      'https://user:secret@example.com',
    ])
      expect(() => loadConfig({ PUBLIC_BASE_URL: bad }), bad).toThrow(
        /^invalid configuration: PUBLIC_BASE_URL: must be an http\(s\) URL/,
      );
  });

  it('names the port bound when PORT=0 leaves the default base URL to it', () => {
    // The default named port 0 (an outside probe): every QR code pointed nowhere.
    expect(loadConfig({ PORT: '0' }, { port: 41234 }).publicBaseUrl).toBe('http://localhost:41234');
    expect(loadConfig({ PORT: '0' }, { port: 41234 }).logOrigin).toBe('localhost:41234/log');
    expect(
      loadConfig({ PORT: '0', PUBLIC_BASE_URL: 'https://certmark.test' }, { port: 41234 })
        .publicBaseUrl,
    ).toBe('https://certmark.test');
  });

  it('reads number settings in decimal only, and an empty one as unset', () => {
    // Empty, as a compose file leaves `RATE_LIMIT_PER_MINUTE=`: the default, not 0 (no limit).
    expect(loadConfig({ RATE_LIMIT_PER_MINUTE: '' }).rateLimitPerMinute).toBe(120);
    expect(loadConfig({ PORT: ' ' }).port).toBe(3000);
    expect(loadConfig({ SCAN_RETENTION_DAYS: '' }).scanRetentionDays).toBeUndefined();
    expect(loadConfig({ SCAN_RETENTION_DAYS: ' 30 ' }).scanRetentionDays).toBe(30);
    expect(loadConfig({ CLONE_PROVINCE_WINDOW_HOURS: '0.5' }).clone.provinceWindowMs).toBe(
      1_800_000,
    );
    for (const value of ['0x1e', '1e3', 'Infinity', '30 days', '-1', '1_000', '+5'])
      expect(() => loadConfig({ SCAN_RETENTION_DAYS: value }), value).toThrow(
        /SCAN_RETENTION_DAYS: a decimal number/,
      );
    expect(() => loadConfig({ SCAN_RETENTION_DAYS: '0' })).toThrow(
      /SCAN_RETENTION_DAYS: Too small/,
    );
  });

  it('takes only PostgreSQL URLs for the databases', () => {
    expect(() => loadConfig({ DATABASE_READ_URL: 'http://example.com/' })).toThrow(
      /DATABASE_READ_URL: must be a postgres/,
    );
    expect(() => loadConfig({ DATABASE_URL: 'mysql://x@y/z' })).toThrow(/DATABASE_URL: must be/);
    expect(loadConfig({ DATABASE_URL: 'postgresql://u@h:5432/d' }).databaseUrl).toBe(
      'postgresql://u@h:5432/d',
    );
  });
});
