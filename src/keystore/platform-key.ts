import { ed25519Jwk, jwkThumbprint, publicKeyFromSeed } from '../crypto/ed25519';
import type { PublicJwk } from '../issuers/issuers.service';

/**
 * The platform's own key, as published in the JWKS: it signs the transparency log's checkpoints
 * and the offline bundles, never a credential or a mark (`purpose: transparency-log`).
 */
export function platformJwk(platformSeed: Uint8Array): PublicJwk {
  const publicKey = publicKeyFromSeed(platformSeed);
  return {
    ...ed25519Jwk(publicKey),
    kid: jwkThumbprint(publicKey),
    use: 'sig',
    alg: 'EdDSA',
    issuer: 'certmark',
    issuerName: 'certmark transparency log',
    purpose: 'transparency-log',
    status: 'current',
  };
}
