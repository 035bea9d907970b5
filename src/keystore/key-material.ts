import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * The secrets that live in KEYS_DIR (layout in keys.example/README.md). Nothing here is ever
 * written to the database, a log or a response.
 */
export interface KeyMaterial {
  /** Key-encryption key for issuers' Ed25519 seeds (AES-256-GCM). */
  readonly kek: Uint8Array;
  /** Seed of the platform Ed25519 key that signs transparency checkpoints. */
  readonly platformSeed: Uint8Array;
}

export class KeyMaterialError extends Error {
  override readonly name = 'KeyMaterialError';
}

/**
 * The key material given does not hold what the database holds (the KEK cannot open the issuers'
 * keys, or the platform seed did not sign the log's latest checkpoint): the service must not start.
 */
export class KeyCustodyError extends Error {
  override readonly name = 'KeyCustodyError';
}

const FILES = { kek: 'kek', platformSeed: 'platform-signing-seed' } as const;

/** SHA-256 of the demo values shipped in keys.example/: production refuses them. */
const DEMO_FINGERPRINTS = new Set([
  'b0ac5b8806c4851b884bbf007d0d8dd802d77f030a1cd85339f26f90b3ef11ba',
  'af05c1bf611930e2d86eb939d194ff7a97dc7e98ff837a74009cf6db8053981a',
]);

export interface LoadKeyMaterialOptions {
  keysDir: string;
  production: boolean;
  /** Called once per generated file, so the caller can say so on the console. */
  onGenerated?: (file: string) => void;
}

export function loadKeyMaterial(options: LoadKeyMaterialOptions): KeyMaterial {
  const { keysDir, production } = options;
  const read = (name: string): Uint8Array => {
    const file = path.join(keysDir, name);
    if (!fs.existsSync(file)) {
      if (production) {
        throw new KeyMaterialError(
          `${file} is missing; in production keys are never generated silently (see keys.example/README.md)`,
        );
      }
      fs.mkdirSync(keysDir, { recursive: true, mode: 0o700 });
      fs.writeFileSync(file, `${randomBytes(32).toString('base64url')}\n`, {
        mode: 0o600,
        flag: 'wx',
      });
      options.onGenerated?.(file);
    }
    const value = new Uint8Array(Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64url'));
    if (value.length !== 32) throw new KeyMaterialError(`${file} must hold 32 bytes, base64url`);
    if (production && DEMO_FINGERPRINTS.has(createHash('sha256').update(value).digest('hex'))) {
      throw new KeyMaterialError(
        `${file} holds a demo value from keys.example/; production refuses it`,
      );
    }
    return value;
  };
  // Every key file present is checked before a missing one is generated: a bad file leaves
  // KEYS_DIR as it was.
  for (const name of [FILES.kek, FILES.platformSeed]) {
    if (fs.existsSync(path.join(keysDir, name))) read(name);
  }
  return Object.freeze({ kek: read(FILES.kek), platformSeed: read(FILES.platformSeed) });
}
