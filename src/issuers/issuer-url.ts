import { issuerUrl } from '../crypto/issuer-identifier';

/** The well-known URI suffix of JWT VC Issuer Metadata (SD-JWT VC, "JWT VC Issuer Metadata"). */
export const JWT_VC_ISSUER_WELL_KNOWN = '/.well-known/jwt-vc-issuer';

/**
 * Where an `iss` publishes its JWT VC Issuer Metadata: `/.well-known/jwt-vc-issuer` inserted
 * between the host and the path of `iss`, a terminating `/` of the path removed first.
 *
 * @example
 * issuerMetadataUrl('https://example.com/tenant/1234');
 * // 'https://example.com/.well-known/jwt-vc-issuer/tenant/1234'
 */
export function issuerMetadataUrl(iss: string): string {
  const url = new URL(iss);
  const path = url.pathname.replace(/\/$/, '');
  return `${url.origin}${JWT_VC_ISSUER_WELL_KNOWN}${path}`;
}

/**
 * The path this service answers issuer metadata at: the well-known segment, then PUBLIC_BASE_URL's
 * own path (a service behind a path prefix is still asked at the host's root), then the issuers'
 * path with its `{id}` parameter.
 */
export function issuerMetadataRoutePath(baseUrl: string): string {
  return new URL(issuerMetadataUrl(issuerUrl(baseUrl, '{id}'))).pathname.replace(
    '%7Bid%7D',
    '{id}',
  );
}
