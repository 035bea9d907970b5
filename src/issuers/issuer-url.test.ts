import { describe, expect, it } from 'vitest';
import { issuerUrl } from '../crypto/issuer-identifier';
import { issuerMetadataRoutePath, issuerMetadataUrl } from './issuer-url';

describe('JWT VC issuer metadata location (SD-JWT VC)', () => {
  it('inserts the well-known segment between host and path, as the draft’s examples', () => {
    expect(issuerMetadataUrl('https://example.com')).toBe(
      'https://example.com/.well-known/jwt-vc-issuer',
    );
    expect(issuerMetadataUrl('https://example.com/tenant/1234')).toBe(
      'https://example.com/.well-known/jwt-vc-issuer/tenant/1234',
    );
    expect(issuerMetadataUrl('https://example.com:8443/tenant/1234/')).toBe(
      'https://example.com:8443/.well-known/jwt-vc-issuer/tenant/1234',
    );
  });

  it('serves an issuer’s metadata at the path its iss derives, under a base path too', () => {
    expect(issuerMetadataRoutePath('https://certmark.test')).toBe(
      '/.well-known/jwt-vc-issuer/v1/issuers/{id}',
    );
    expect(issuerMetadataRoutePath('https://gov.example/certmark')).toBe(
      '/.well-known/jwt-vc-issuer/certmark/v1/issuers/{id}',
    );
    const iss = issuerUrl('https://gov.example/certmark', 'abc');
    expect(new URL(issuerMetadataUrl(iss)).pathname).toBe(
      issuerMetadataRoutePath('https://gov.example/certmark').replace('{id}', 'abc'),
    );
  });
});
