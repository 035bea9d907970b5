import { AppError } from '../errors';
import type { CertificateWithIssuer } from './certificates.queries';

/** An issuer holding a certificate number: what `ambiguous_number` lists to pick `issuerId` from. */
export interface NumberHolder {
  id: string;
  name: string;
}

/** The issuers of the certificates one number found. */
export const numberHolders = (matches: readonly CertificateWithIssuer[]): NumberHolder[] =>
  matches.map((m) => ({ id: m.issuer.id, name: m.issuer.name }));

/** A number several issuers use, given without `issuerId`: the caller is asked which one's. */
export const ambiguousNumber = (holders: NumberHolder[]): AppError =>
  new AppError(
    'ambiguous_number',
    'several issuers have a certificate with this number; give issuerId',
    { issuers: holders },
  );
