/**
 * An issuer's identifier: the `issuer.id` and `iss` of every credential and status list it signs,
 * an https URL under PUBLIC_BASE_URL (`service`). One rule for the service that writes it and the
 * offline verifier that checks a bundled list's `iss` against the key that signed it: two copies
 * could drift, and a verifier would then refuse every list the service signs.
 *
 * @example
 * issuerUrl('https://certmark.example', 'c0ffee…'); // 'https://certmark.example/v1/issuers/c0ffee…'
 */
export const issuerUrl = (service: string, issuerId: string) => `${service}/v1/issuers/${issuerId}`;
