import fs from 'node:fs';
import {
  claimsToBeBundle,
  readOfflineBundle,
  type OfflineBundleProblem,
} from '../crypto/offline-bundle';
import { EXIT, parseCommand } from './command';
import { boundedFetch, defaultRetryPolicy, fetchWithRetry, type RetryPolicy } from './http';

/**
 * The exit code of a refused bundle: 1 when it was tampered with or substituted (altered, signed
 * by another key than the log's it is told to trust, or naming under the log's kid a key that is
 * not the log's), as a rewritten log is to `audit verify`; 2 when the file is no bundle at all.
 * Malformed text that still claims to be a bundle (a field dropped, its header changed, its
 * signature cut) is an altered bundle: 1. A format this verifier does not read (a newer service's)
 * is 2: update certmark.
 */
export function bundleRefusalExit(problem: OfflineBundleProblem, text: string): number {
  if (problem === 'unsupported_format') return EXIT.usage;
  if (problem !== 'malformed') return EXIT.finding;
  return claimsToBeBundle(text) ? EXIT.finding : EXIT.usage;
}

/**
 * `certmark bundle --url <base-url>`: downloads the service's offline bundle (keys, status lists,
 * the latest log checkpoint, signed by the transparency log's key), checks it as a verifier will,
 * and saves it for `certmark verify --bundle` with no network.
 */
const usage = `usage: certmark bundle --url <base-url> [--issuer <id>]... [--out <file>] [--log-kid <kid>]
  --url <base-url>   the service, e.g. https://certmark.example
  --issuer <id>      only this issuer's keys and status lists (repeatable); default every issuer
  --out <file>       where to save it (default: standard output)
  --log-kid <kid>    refuse a bundle not signed by this transparency-log key (its kid in the JWKS;
                     write --log-kid=<kid> when it begins with -)
  -h, --help         this help
  --version          certmark's version
exit codes: 0 saved, 1 the bundle does not verify, 2 usage or network error
`;

export interface BundleCommandIo {
  fetch: (url: string) => Promise<Response>;
  writeFile: (path: string, text: string) => void;
  retry: RetryPolicy;
  now: () => Date;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const defaultIo: BundleCommandIo = {
  fetch: boundedFetch('application/jose'),
  writeFile: (path, text) => fs.writeFileSync(path, text),
  retry: {
    ...defaultRetryPolicy,
    onRetry: ({ url, status, waitSeconds }) =>
      process.stderr.write(`${url} answered ${status}; retrying in ${waitSeconds} s\n`),
  },
  now: () => new Date(),
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

export async function runBundleCommand(
  args: string[],
  io: BundleCommandIo = defaultIo,
): Promise<number> {
  const parsed = parseCommand(
    args,
    {
      usage,
      options: {
        url: { type: 'string' },
        issuer: { type: 'string', multiple: true },
        out: { type: 'string' },
        'log-kid': { type: 'string' },
      },
    },
    io,
  );
  if (parsed.exit !== undefined) return parsed.exit;
  const { url, issuer, out } = parsed.values;
  const logKid = parsed.values['log-kid'];
  if (typeof url !== 'string' || !/^https?:\/\//i.test(url)) {
    io.stderr(`--url must be the service's http(s) address\n${usage}`);
    return EXIT.usage;
  }
  const issuers = Array.isArray(issuer) ? issuer : [];
  const query = issuers.length > 0 ? `?issuer=${issuers.map(encodeURIComponent).join(',')}` : '';
  const source = `${url.replace(/\/+$/, '')}/v1/offline-bundle${query}`;
  let res: Response;
  try {
    res = await fetchWithRetry(io.fetch, source, io.retry);
  } catch (error) {
    io.stderr(`certmark bundle: cannot reach ${source}: ${(error as Error).message}\n`);
    return EXIT.usage;
  }
  const text = await res.text();
  if (!res.ok) {
    let detail = '';
    try {
      detail = `: ${(JSON.parse(text) as { detail?: string }).detail ?? ''}`;
    } catch {
      // not a problem document
    }
    io.stderr(`certmark bundle: ${source} answered ${res.status}${detail}\n`);
    return EXIT.usage;
  }
  const read = readOfflineBundle(text.trim(), typeof logKid === 'string' ? { logKid } : {});
  if (!read.ok) {
    io.stderr(`certmark bundle: refused: ${read.message}\n`);
    return bundleRefusalExit(read.problem, text);
  }
  const { bundle } = read;
  if (typeof out === 'string') io.writeFile(out, `${text.trim()}\n`);
  else io.stdout(`${text.trim()}\n`);
  const left = bundle.freshUntil.getTime() - io.now().getTime();
  const hours = Math.round(Math.abs(left) / 360_000) / 10;
  const fresh =
    left > 0
      ? `(${hours} h from now)`
      : `: already past it (${hours} h ago), so verify --bundle will answer "status unknown" (is this clock, or the service's, wrong?)`;
  io.stderr(
    `offline bundle made ${bundle.createdAt.toISOString()}, status fresh until ${bundle.freshUntil.toISOString()} ${fresh}\n` +
      `${bundle.keys.length} issuer key(s), ${bundle.lists.size} status list(s), ${bundle.voided.size} voided mark(s); signed by the transparency log's key ${bundle.logKid}\n` +
      (typeof out === 'string' ? `saved to ${out}\n` : ''),
  );
  return EXIT.ok;
}
