import dns from 'node:dns';
import net from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * Where a webhook may be sent (issue 13; OWASP SSRF prevention). A subscription names a URL that
 * the service will later POST to from inside its own network, so the URL is a way to reach what
 * only the service can reach (a metadata endpoint, the database's host, an admin port):
 * - `https:` always; `http:` only to a loopback address, and only outside production (a developer's
 *   own receiver);
 * - in production, no address that is not public unicast: every address the name resolves to is
 *   checked when the subscription is made, and again at each connection (the check is the
 *   connection's own DNS lookup, so a name that resolves to a public address at creation and to a
 *   private one later — DNS rebinding — is refused at delivery).
 * No credentials in the URL (they would be shown back in every listing), no redirects followed.
 */
export interface TargetPolicy {
  production: boolean;
}

export type TargetRefusal =
  'not_a_url' | 'scheme' | 'credentials' | 'http_not_loopback' | 'private_address' | 'unresolvable';

export class TargetRefused extends Error {
  override readonly name = 'TargetRefused';
  readonly code = 'ADDRESS_REFUSED';
  constructor(
    readonly refusal: TargetRefusal,
    message: string,
  ) {
    super(message);
  }
}

/** IPv6 global unicast (RFC 4291 §2.4): everything else is reserved or special-purpose. */
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3');

/** True for an address outside every special-purpose range (RFC 6890): public unicast only. */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  // An IPv4-mapped IPv6 address (::ffff:10.0.0.1) is judged as the IPv4 address it carries.
  const parsed = ipaddr.process(address);
  if (parsed.range() !== 'unicast') return false;
  // ipaddr.js calls every IPv6 address outside its special ranges unicast, the deprecated
  // IPv4-compatible ones (::7f00:1 is 127.0.0.1 through a tunnel) and reserved space among them.
  return parsed.kind() === 'ipv4' || (parsed as ipaddr.IPv6).match(GLOBAL_UNICAST_V6);
}

function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  return ipaddr.isValid(host) && ipaddr.process(host).range() === 'loopback';
}

/** Checks the URL's form (no DNS): its parsed URL, or a refusal naming why. */
export function checkTargetUrl(raw: string, policy: TargetPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TargetRefused('not_a_url', 'must be an absolute URL');
  }
  if (url.username || url.password) {
    throw new TargetRefused('credentials', 'must not carry a user name or password');
  }
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:') {
    if (!policy.production && isLoopbackHost(url.hostname)) return url;
    throw new TargetRefused(
      'http_not_loopback',
      policy.production
        ? 'must be https'
        : 'must be https (http only to a loopback address outside production)',
    );
  }
  throw new TargetRefused('scheme', 'must be an https URL');
}

/** In production, refuses a URL whose host is, or resolves to, an address that is not public. */
export async function checkTargetAddresses(url: URL, policy: TargetPolicy): Promise<void> {
  if (!policy.production) return;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  if (net.isIP(host)) {
    addresses = [host];
  } else {
    try {
      addresses = (await dns.promises.lookup(host, { all: true, verbatim: true })).map(
        (a) => a.address,
      );
    } catch {
      throw new TargetRefused('unresolvable', 'names a host that does not resolve');
    }
  }
  if (addresses.length === 0 || !addresses.every(isPublicAddress)) {
    throw new TargetRefused('private_address', 'must not resolve to a private or local address');
  }
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | dns.LookupAddress[],
  family?: number,
) => void;

/**
 * The `lookup` of a delivery's connection: DNS as usual, then (in production) every address checked,
 * so the connection goes only where the check passed. An IP-literal host never reaches a lookup:
 * {@link checkTargetAddresses} judges it before connecting.
 */
export function guardedLookup(policy: TargetPolicy) {
  return function lookupPublicOnly(
    hostname: string,
    options: dns.LookupOptions,
    callback: LookupCallback,
  ): void {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      if (policy.production && !addresses.every((a) => isPublicAddress(a.address))) {
        return callback(
          new TargetRefused('private_address', 'resolves to a private or local address'),
          [],
        );
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0]!;
      return callback(null, first.address, first.family);
    });
  };
}
