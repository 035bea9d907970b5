import type { Queryable } from '../db/client';
import type { SigningKeyRow } from '../db/schema/signing-keys';
import {
  assertAcceptablePublicKey,
  generateSigningKey,
  jwkThumbprint,
  markKeyId,
} from '../crypto/ed25519';
import { KeyWrapError, unwrapKey, wrapKey } from '../crypto/keywrap';
import { AppError } from '../errors';
import { KeyCustodyError } from '../keystore/key-material';
import { findCurrentSigningKey, findNewestSigningKey, insertSigningKey } from './issuers.queries';

/** A usable signing key: its kid and the unwrapped seed (kept in memory only). */
export interface IssuerSigner {
  readonly kid: string;
  readonly issuerId: string;
  readonly seed: Uint8Array;
  readonly publicKey: Uint8Array;
}

const associatedData = (issuerId: string, kid: string) =>
  `certmark/signing-key/v1:${issuerId}:${kid}`;

/**
 * Custody of issuers' Ed25519 keys: generates them, stores the seed only wrapped under the KEK
 * from KEYS_DIR, and unwraps on demand. Unwrapped seeds are cached (bounded) in this process only.
 */
export class KeyVault {
  private readonly seeds = new Map<string, Uint8Array>();
  private static readonly MAX_CACHED = 1024;

  constructor(private readonly kek: Uint8Array) {}

  /** Creates and stores a new current key for the issuer (the caller retires the old one). */
  async createKey(db: Queryable, issuerId: string, at: Date): Promise<SigningKeyRow> {
    const { seed, publicKey } = generateSigningKey();
    // Never publish a key a verifier would have to refuse (small order, non-canonical).
    assertAcceptablePublicKey(publicKey);
    const kid = jwkThumbprint(publicKey);
    return insertSigningKey(db, {
      kid,
      issuerId,
      markKeyId: Buffer.from(markKeyId(kid)).toString('hex'),
      publicKey,
      wrappedSeed: wrapKey(this.kek, seed, associatedData(issuerId, kid)),
      status: 'current',
      createdAt: at,
    });
  }

  /** The issuer's current signing key, unwrapped. */
  async currentSigner(db: Queryable, issuerId: string): Promise<IssuerSigner> {
    const row = await findCurrentSigningKey(db, issuerId);
    if (!row)
      throw new AppError('no_signing_key', 'the issuer has no current signing key; rotate its key');
    return this.signerFromRow(row);
  }

  signerFromRow(row: SigningKeyRow): IssuerSigner {
    let seed = this.seeds.get(row.kid);
    if (!seed) {
      seed = unwrapKey(this.kek, row.wrappedSeed, associatedData(row.issuerId, row.kid));
      if (this.seeds.size >= KeyVault.MAX_CACHED) this.seeds.clear();
      this.seeds.set(row.kid, seed);
    }
    return { kid: row.kid, issuerId: row.issuerId, seed, publicKey: row.publicKey };
  }

  /**
   * Checks at start that this KEK opens the database's signing keys: a KEYS_DIR of another
   * deployment (or a KEK replaced by mistake) would otherwise start, answer verifications, and fail
   * every issuance, status list and re-signing with a 500. A database without keys passes.
   */
  async assertOpens(db: Queryable): Promise<void> {
    const newest = await findNewestSigningKey(db);
    if (!newest) return;
    try {
      this.signerFromRow(newest);
    } catch (error) {
      if (!(error instanceof KeyWrapError)) throw error;
      throw new KeyCustodyError(
        'the key-encryption key in KEYS_DIR does not open the signing keys in this database (KEYS_DIR of another deployment?)',
      );
    }
  }

  /** Drops a key from memory (after it is marked compromised). */
  forget(kid: string): void {
    this.seeds.delete(kid);
  }
}
