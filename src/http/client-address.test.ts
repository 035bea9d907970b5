import { describe, expect, it } from 'vitest';
import { clientAddressOf, parseTrustProxy, rateLimitKey } from './client-address';

describe('client address and TRUST_PROXY', () => {
  const xff = '6.6.6.6, 203.0.113.7, 10.0.0.2';
  it('is the socket’s without TRUST_PROXY, whatever the header says', () => {
    expect(clientAddressOf('10.0.0.1', xff, parseTrustProxy(undefined))).toBe('10.0.0.1');
  });
  it('with a hop count, the entry that many trusted hops vouch for', () => {
    expect(clientAddressOf('10.0.0.1', xff, parseTrustProxy('1'))).toBe('10.0.0.2');
    expect(clientAddressOf('10.0.0.1', xff, parseTrustProxy('2'))).toBe('203.0.113.7');
    expect(clientAddressOf('10.0.0.1', 'junk', parseTrustProxy('1'))).toBe('10.0.0.1');
  });
  it('with CIDRs, the first untrusted entry from the right; a spoofed left end is not believed', () => {
    const trust = parseTrustProxy('10.0.0.0/8, fd00::/8');
    expect(clientAddressOf('10.0.0.1', xff, trust)).toBe('203.0.113.7');
    expect(clientAddressOf('198.51.100.1', xff, trust)).toBe('198.51.100.1');
  });
  it('refuses a TRUST_PROXY that is neither', () => {
    expect(() => parseTrustProxy('proxy.example')).toThrow(RangeError);
    expect(() => parseTrustProxy('10.0.0.0/33')).toThrow(RangeError);
  });
  it('counts IPv6 per /64 and IPv4-mapped addresses as IPv4', () => {
    expect(rateLimitKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(rateLimitKey('2001:db8:1:2:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(rateLimitKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(rateLimitKey('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(rateLimitKey('192.0.2.1')).toBe('192.0.2.1');
  });
});
