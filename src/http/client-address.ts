import { BlockList, isIP } from 'node:net';

/**
 * Who the client is, for per-address rate limiting (SPEC "Service": the socket's address unless
 * `TRUST_PROXY` says which forwarding header entries to believe).
 *
 * `X-Forwarded-For` is a list each proxy appends to: `client, proxy1, proxy2`, and the socket's
 * peer is the last proxy. Anyone can write the left end of the list, so only entries added by
 * proxies we trust count: with a hop count n, the n nearest proxies are trusted and the client is
 * the n-th entry from the right; with a CIDR list, entries are walked from the right while they
 * belong to a trusted network, and the first that does not is the client.
 */
export type TrustProxy =
  | { kind: 'none' }
  | { kind: 'hops'; hops: number }
  | { kind: 'networks'; networks: BlockList; text: string };

/**
 * Parses `TRUST_PROXY`: unset → trust no proxy; a whole number → that many hops; else a
 * comma-separated list of addresses and CIDRs (IPv4 or IPv6). Throws a RangeError naming the
 * first entry that is neither.
 *
 * @example parseTrustProxy('10.0.0.0/8, fd00::/8'); parseTrustProxy('1')
 */
export function parseTrustProxy(value: string | undefined): TrustProxy {
  const text = value?.trim() ?? '';
  if (text === '') return { kind: 'none' };
  if (/^\d+$/.test(text)) {
    const hops = Number(text);
    if (hops > 32) throw new RangeError('a hop count of at most 32');
    return hops === 0 ? { kind: 'none' } : { kind: 'hops', hops };
  }
  const networks = new BlockList();
  for (const entry of text.split(',').map((e) => e.trim())) {
    const [address = '', prefix] = entry.split('/');
    const family = isIP(address);
    if (family === 0) throw new RangeError(`"${entry}" is not an IP address or CIDR`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) {
      networks.addAddress(address, type);
      continue;
    }
    const bits = /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
    if (!(bits >= 0 && bits <= (family === 4 ? 32 : 128)))
      throw new RangeError(`"${entry}" has no valid prefix length`);
    networks.addSubnet(address, bits, type);
  }
  return { kind: 'networks', networks, text };
}

/** An address as the rate limiter counts it (see {@link rateLimitKey}); null if not an address. */
function plainAddress(text: string): string | null {
  let address = text.trim();
  // "[2001:db8::1]:443" or "1.2.3.4:5678" as some proxies write them
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (bracketed) address = bracketed[1]!;
  else if (/^[\d.]+:\d+$/.test(address)) address = address.slice(0, address.lastIndexOf(':'));
  return isIP(address) ? address : null;
}

const isTrusted = (trust: TrustProxy & { kind: 'networks' }, address: string) =>
  trust.networks.check(address, isIP(address) === 4 ? 'ipv4' : 'ipv6') ||
  // an IPv4 peer seen through an IPv6 socket
  (/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address) && trust.networks.check(address.slice(7), 'ipv4'));

/**
 * The client's address: the socket's, or under `TRUST_PROXY` the one the trusted proxies report.
 * A forwarding header that is missing, malformed or shorter than the hop count never lets the
 * request choose its own address: the last entry that can be read from the right is used.
 */
export function clientAddressOf(
  socketAddress: string | undefined,
  forwardedFor: string | undefined,
  trust: TrustProxy,
): string {
  const socket = socketAddress ?? 'unknown';
  if (trust.kind === 'none' || forwardedFor === undefined) return socket;
  const chain = [...forwardedFor.split(','), socket];
  if (trust.kind === 'hops') {
    // The socket is hop 1's address; each trusted hop vouches for the entry to its left.
    let client = socket;
    for (let i = chain.length - 2, hop = 1; i >= 0 && hop <= trust.hops; i--, hop++) {
      const entry = plainAddress(chain[i]!);
      if (!entry) break;
      client = entry;
    }
    return client;
  }
  let client = socket;
  if (!isTrusted(trust, socket)) return socket;
  for (let i = chain.length - 2; i >= 0; i--) {
    const entry = plainAddress(chain[i]!);
    if (!entry) break;
    client = entry;
    if (!isTrusted(trust, entry)) break;
  }
  return client;
}

/**
 * The key an address is counted under: an IPv4 address as it is, an IPv6 address by its /64
 * (one subscriber's whole prefix: an IPv6 client can pick any of 2^64 addresses), an IPv4-mapped
 * IPv6 address as the IPv4 address it maps.
 *
 * @example rateLimitKey('2001:db8:1:2:aaaa::1') // '2001:db8:1:2::/64'
 */
export function rateLimitKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (isIP(address) !== 6) return address;
  const [head = '', tail] = address.toLowerCase().split('%')[0]!.split('::');
  const left = head ? head.split(':') : [];
  const right = tail === undefined ? [] : tail ? tail.split(':') : [];
  // an embedded IPv4 tail ("::ffff:1.2.3.4", "64:ff9b::1.2.3.4") fills two groups
  const width = (gs: string[]) => gs.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
  const groups = [
    ...left,
    ...Array(Math.max(0, 8 - width(left) - width(right))).fill('0'),
    ...right,
  ];
  const prefix = groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':');
  return `${prefix}::/64`;
}
