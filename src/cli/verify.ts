import fs from 'node:fs';
import { groupSerial } from '../crypto/mark-scan';
import { verifyMarkOffline, type Jwks } from '../crypto/offline-mark';
import { EXIT, parseCommand } from './command';
import { defaultRetryPolicy, fetchWithRetry, type RetryPolicy } from './http';

/**
 * `certmark verify <code-or-url> --jwks <file>`: checks a mark with no network (SPEC "Product
 * marks": a mark can be verified offline with the JWKS alone, signature and issuer). Runs the
 * browser's code (../crypto/offline-mark: `@noble/ed25519`, zip215: false), which reads input and
 * picks the signer with the same functions as the online service. Exit code 0 when the signature
 * holds under a published issuer key, 1 when the mark is forged (or cannot be checked offline), 2
 * for a usage error or an unreadable JWKS.
 *
 * What it cannot tell offline: whether the mark is in the registry, voided, cloned, or its
 * certificate still valid. The online service answers those.
 */
const usage = `usage: certmark verify <mark-code-or-url> --jwks <file-or-url> [--json]
  --jwks <file-or-url>  the service's /.well-known/jwks.json: a copy saved beforehand (offline), or
                        its http(s) URL (fetched once; 429 and 503 are retried after Retry-After)
  --json                print the result as JSON
  -h, --help            this help
  --version             certmark's version
exit codes: 0 genuine signature, 1 forged or not checkable offline, 2 usage error or unreadable JWKS
`;

export interface VerifyCommandIo {
  readFile: (path: string) => string;
  fetch: (url: string) => Promise<Response>;
  retry: RetryPolicy;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const defaultIo: VerifyCommandIo = {
  readFile: (path) => fs.readFileSync(path, 'utf8'),
  fetch: (url) => fetch(url, { headers: { accept: 'application/json' } }),
  retry: {
    ...defaultRetryPolicy,
    onRetry: ({ url, status, waitSeconds }) =>
      process.stderr.write(`${url} answered ${status}; retrying in ${waitSeconds} s\n`),
  },
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

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

/** The JWKS of a file's text; a UsageError when it has no "keys" array. */
function parseJwks(text: string): Jwks {
  const jwks = JSON.parse(text) as { keys?: unknown } | null;
  if (!Array.isArray(jwks?.keys)) throw new UsageError('the JWKS has no "keys" array');
  return jwks as Jwks;
}

/** The JWKS named by `--jwks`: fetched when it is an http(s) URL, else read from a file. */
async function loadJwks(source: string, io: VerifyCommandIo): Promise<Jwks> {
  if (!/^https?:\/\//i.test(source)) return parseJwks(io.readFile(source));
  let res: Response;
  try {
    res = await fetchWithRetry(io.fetch, source, io.retry);
  } catch (error) {
    throw new UsageError(`cannot reach ${source}: ${(error as Error).message}`);
  }
  if (!res.ok) throw new UsageError(`${source} answered ${res.status}`);
  return parseJwks(await res.text());
}

/** Checks a scanned mark against a JWKS, offline: the CLI's verdict. */
export function offlineVerdict(input: string, jwks: Jwks): OfflineVerdict {
  const result = verifyMarkOffline(input, jwks);
  if (result.ok) {
    return {
      verdict: 'authentic-signature',
      serial: result.serial,
      kid: result.kid,
      issuer: result.issuer,
      issuerName: result.issuerName,
      keyStatus: result.keyStatus,
    };
  }
  if (result.reason === 'NOT_CHECKABLE_OFFLINE') {
    return {
      verdict: 'not-checkable',
      reason: result.detail,
      message: result.message,
      serial: result.serial,
    };
  }
  return result.serial === undefined
    ? { verdict: 'forged', reason: result.reason, message: result.message }
    : { verdict: 'forged', reason: result.reason, message: result.message, serial: result.serial };
}

export async function runVerifyCommand(
  args: string[],
  io: VerifyCommandIo = defaultIo,
): Promise<number> {
  const parsed = parseCommand(
    args,
    {
      usage,
      options: { jwks: { type: 'string' }, json: { type: 'boolean' } },
      positionals: { min: 1, max: 1 },
    },
    io,
  );
  if (parsed.exit !== undefined) return parsed.exit;
  const input = parsed.positionals[0]!;
  const source = parsed.values.jwks;
  if (typeof source !== 'string') {
    io.stderr(`--jwks is required\n${usage}`);
    return EXIT.usage;
  }
  let jwks: Jwks;
  try {
    jwks = await loadJwks(source, io);
  } catch (error) {
    const why =
      error instanceof UsageError
        ? error.message
        : `cannot read ${source}: ${(error as Error).message}`;
    io.stderr(`certmark verify: ${why}\n`);
    return EXIT.usage;
  }

  const result = offlineVerdict(input, jwks);
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
  return result.verdict === 'authentic-signature' ? EXIT.ok : EXIT.finding;
}
