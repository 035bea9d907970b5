import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { jwkThumbprint, markKeyId } from '../crypto/ed25519';
import {
  checkMarkSignature,
  groupSerial,
  readScanInput,
  type MarkKeyCandidate,
} from '../marks/mark-signature';

/**
 * `certmark verify <code-or-url> --jwks <file>`: checks a mark with no network (SPEC "Product
 * marks": a mark can be verified offline with the JWKS alone, signature and issuer). Uses the pure
 * JavaScript verifier (`@noble/ed25519`, zip215: false) through the same functions as the online
 * service. Exit code 0 when the signature holds under a published issuer key, 1 when the mark is
 * forged (or cannot be checked offline), 2 for a usage error or an unreadable JWKS.
 *
 * What it cannot tell offline: whether the mark is in the registry, voided, cloned, or its
 * certificate still valid. The online service answers those.
 */
const usage = `usage: certmark verify <mark-code-or-url> --jwks <file> [--json]
  --jwks <file>   the service's /.well-known/jwks.json, saved beforehand
  --json          print the result as JSON
`;

export interface VerifyCommandIo {
  readFile: (path: string) => string;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const defaultIo: VerifyCommandIo = {
  readFile: (path) => fs.readFileSync(path, 'utf8'),
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/** A JWKS entry that can have signed a mark: an issuer's Ed25519 key whose kid is its thumbprint. */
export interface OfflineMarkKey extends MarkKeyCandidate {
  readonly issuer: string;
  readonly issuerName: string;
  readonly status: string;
  readonly markKeyId: string;
}

export type OfflineVerdict =
  | {
      verdict: 'authentic-signature';
      serial: string;
      kid: string;
      issuer: string;
      issuerName: string;
      keyStatus: string;
    }
  | {
      verdict: 'forged';
      reason: 'MALFORMED' | 'UNKNOWN_KEY' | 'BAD_SIGNATURE';
      message: string;
      serial?: string;
    }
  | {
      verdict: 'not-checkable';
      reason: 'SERIAL_ONLY' | 'SERIAL_CHECK_FAILED';
      message: string;
      serial: string;
    };

class UsageError extends Error {}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The mark-signing keys of a JWKS. Skipped: keys that are not Ed25519, whose kid is not the RFC 7638
 * thumbprint of their `x` (a kid is what binds a mark's 3-byte key id to a key), whose key a
 * verifier must refuse (small order, non-canonical), that are compromised, or that belong to no
 * issuer (the platform's own key signs checkpoints, never marks).
 */
export function markKeysOfJwks(jwks: unknown): OfflineMarkKey[] {
  const keys = (jwks as { keys?: unknown })?.keys;
  if (!Array.isArray(keys)) throw new UsageError('the JWKS has no "keys" array');
  const result: OfflineMarkKey[] = [];
  for (const jwk of keys as Record<string, unknown>[]) {
    if (
      jwk?.kty !== 'OKP' ||
      jwk.crv !== 'Ed25519' ||
      typeof jwk.x !== 'string' ||
      typeof jwk.kid !== 'string'
    )
      continue;
    if (jwk.status === 'compromised' || typeof jwk.issuer !== 'string' || !UUID.test(jwk.issuer))
      continue;
    const publicKey = new Uint8Array(Buffer.from(jwk.x, 'base64url'));
    try {
      if (jwkThumbprint(publicKey) !== jwk.kid) continue;
    } catch {
      continue; // an unacceptable public key
    }
    result.push({
      kid: jwk.kid,
      publicKey,
      issuer: jwk.issuer,
      issuerName: typeof jwk.issuerName === 'string' ? jwk.issuerName : jwk.issuer,
      status: typeof jwk.status === 'string' ? jwk.status : 'unknown',
      markKeyId: Buffer.from(markKeyId(jwk.kid)).toString('hex'),
    });
  }
  return result;
}

/** Checks a scanned mark against a JWKS, offline. */
export function verifyMarkOffline(input: string, keys: readonly OfflineMarkKey[]): OfflineVerdict {
  const scanned = readScanInput(input);
  switch (scanned.kind) {
    case 'malformed':
      return { verdict: 'forged', reason: 'MALFORMED', message: scanned.message };
    case 'serial_check_failed':
      return {
        verdict: 'not-checkable',
        reason: 'SERIAL_CHECK_FAILED',
        message: 'the serial’s check digits fail: probably a typing error',
        serial: scanned.serial,
      };
    case 'serial':
      return {
        verdict: 'not-checkable',
        reason: 'SERIAL_ONLY',
        message: 'a typed serial carries no signature: check it online',
        serial: scanned.serial,
      };
    case 'code': {
      const keyIdHex = Buffer.from(scanned.decoded.keyId).toString('hex');
      const candidates = keys.filter((k) => k.markKeyId === keyIdHex);
      const check = checkMarkSignature(scanned.decoded, candidates, { offline: true });
      if (!check.ok)
        return {
          verdict: 'forged',
          reason: check.reason,
          message: check.message,
          serial: scanned.serial,
        };
      return {
        verdict: 'authentic-signature',
        serial: scanned.serial,
        kid: check.key.kid,
        issuer: check.key.issuer,
        issuerName: check.key.issuerName,
        keyStatus: check.key.status,
      };
    }
  }
}

export async function runVerifyCommand(
  args: string[],
  io: VerifyCommandIo = defaultIo,
): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        jwks: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    io.stderr(`${(error as Error).message}\n${usage}`);
    return 2;
  }
  if (parsed.values.help) {
    io.stdout(usage);
    return 0;
  }
  const [input, ...extra] = parsed.positionals;
  if (!input || extra.length > 0 || !parsed.values.jwks) {
    io.stderr(usage);
    return 2;
  }
  let keys: OfflineMarkKey[];
  try {
    keys = markKeysOfJwks(JSON.parse(io.readFile(parsed.values.jwks)));
  } catch (error) {
    const why =
      error instanceof UsageError
        ? error.message
        : `cannot read ${parsed.values.jwks}: ${(error as Error).message}`;
    io.stderr(`certmark verify: ${why}\n`);
    return 2;
  }

  const result = verifyMarkOffline(input, keys);
  if (parsed.values.json) {
    io.stdout(`${JSON.stringify(result)}\n`);
  } else if (result.verdict === 'authentic-signature') {
    const retired =
      result.keyStatus === 'retired' ? ' (a retired key: marks it signed stay valid)' : '';
    io.stdout(
      `authentic-signature: mark ${groupSerial(result.serial)} is signed by ${result.issuerName} (issuer ${result.issuer}), key ${result.kid}${retired}\n` +
        'Offline, only the signature and issuer are checked; the online service tells whether the mark is registered, voided or cloned.\n',
    );
  } else if (result.verdict === 'forged') {
    io.stdout(`forged: ${result.reason} — ${result.message}\n`);
  } else {
    io.stdout(`cannot check offline: ${result.reason} — ${result.message}\n`);
  }
  return result.verdict === 'authentic-signature' ? 0 : 1;
}
