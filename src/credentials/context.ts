/**
 * certmark's JSON-LD context (VC Data Model 2.0 §4.3 "Contexts"): every term a certmark credential
 * uses beyond the VC 2.0 context, each with an IRI of its own, so that a JSON-LD processor expands
 * a certificate credential without dropping a term and without falling back to the VC context's
 * `@vocab` ("issuer-dependent" terms). Listed after `https://www.w3.org/ns/credentials/v2`.
 *
 * Versioned: a published version never changes meaning (a credential signed against it must read
 * the same forever); a change of meaning is a new version at a new URL. `@protected`, as the VC 2.0
 * context is, so that a context listed later cannot quietly redefine a certmark term.
 */

/** The VC Data Model 2.0 base context: always first (VC 2.0 §4.3). */
export const VC_V2_CONTEXT = 'https://www.w3.org/ns/credentials/v2';

/** The path the context is served at, under PUBLIC_BASE_URL. */
export const CONTEXT_PATH = '/ns/certmark/v1';

/** The context's URL for a deployment. */
export const contextUrl = (baseUrl: string) => `${baseUrl}${CONTEXT_PATH}`;

/** The vocabulary the context's terms expand to. */
export const vocabularyUrl = (baseUrl: string) => `${baseUrl}/ns/certmark#`;

const XSD = 'http://www.w3.org/2001/XMLSchema#';

/** The context document served at {@link contextUrl}. */
export function certmarkContext(baseUrl: string) {
  const cm = vocabularyUrl(baseUrl);
  const party = {
    '@id': `${cm}party`,
    '@context': {
      '@protected': true,
      uscc: { '@id': `${cm}uscc` },
      country: { '@id': `${cm}country` },
      address: { '@id': `${cm}address` },
    },
  };
  return {
    '@context': {
      '@version': 1.1,
      '@protected': true,
      // The VC 2.0 context defines the JWT claims `iss`, `iat`, `exp` … but not `jti`
      // (VC-JOSE-COSE: `jti` = `id`), which every certmark credential carries.
      jti: { '@id': 'https://www.iana.org/assignments/jwt#jti', '@type': '@id' },
      QualityCertificationCredential: { '@id': `${cm}QualityCertificationCredential` },
      CertifiedProductOrOrganization: { '@id': `${cm}CertifiedProductOrOrganization` },
      certificate: {
        '@id': `${cm}certificate`,
        // A property-scoped context: inside `certificate`, `holder`, `validFrom` and `validUntil`
        // are the certificate's own (a party, calendar days), not the VC 2.0 terms of those names
        // (a presentation's holder, the credential's instants). JSON-LD 1.1 §4.1.11 lets a
        // property-scoped context override protected terms for exactly this.
        '@context': {
          '@protected': true,
          number: { '@id': `${cm}certificateNumber` },
          scheme: { '@id': `${cm}scheme` },
          holder: { ...party, '@id': `${cm}holder` },
          manufacturer: { ...party, '@id': `${cm}manufacturer` },
          factories: { ...party, '@id': `${cm}factory`, '@container': '@set' },
          scope: {
            '@id': `${cm}scope`,
            '@container': '@set',
            '@context': {
              '@protected': true,
              product: { '@id': `${cm}product` },
              models: { '@id': `${cm}model`, '@container': '@set' },
              hsCode: { '@id': `${cm}hsCode` },
            },
          },
          standards: { '@id': `${cm}standard`, '@container': '@set' },
          validFrom: { '@id': `${cm}validFromDay`, '@type': `${XSD}date` },
          validUntil: { '@id': `${cm}validUntilDay`, '@type': `${XSD}date` },
          quantity: { '@id': `${cm}quantity`, '@type': `${XSD}integer` },
          purpose: { '@id': `${cm}exemptionPurpose` },
          signatory: {
            '@id': `${cm}signatory`,
            '@context': { '@protected': true, title: { '@id': `${cm}title` } },
          },
        },
      },
    },
  } as const;
}
