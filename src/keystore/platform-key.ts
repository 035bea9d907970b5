import { ed25519Jwk, jwkThumbprint, publicKeyFromSeed } from '../crypto/ed25519';
import type { PublicJwk } from '../issuers/issuers.service';

/** The platform's own key (signs transparency checkpoints), as published in the JWKS. */
export function platformJwk(platformSeed: Uint8Array): PublicJwk {
  const publicKey = publicKeyFromSeed(platformSeed);
  return {
    ...ed25519Jwk(publicKey),
    kid: jwkThumbprint(publicKey),
    use: 'sig',
    alg: 'EdDSA',
    issuer: 'certmark',
    issuerName: 'certmark transparency log',
    status: 'current',
  };
}
