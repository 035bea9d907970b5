import { groupSerial } from '../crypto/mark-scan';
import { reasonWords, ui } from '../web/i18n';
import { verifyMarkOffline, type Jwks } from '../crypto/offline-mark';
import { readOfflineBundle } from '../crypto/offline-bundle';
import { formatAge, verifyOffline, type OfflineAnswer } from '../verification/offline-verification';
import { bundleRefusalExit } from './bundle';
import { EXIT, parseCommand } from './command';
import {
  boundedFetch,
  defaultRetryPolicy,
  fetchWithRetry,
  readBoundedFile,
  type RetryPolicy,
} from './http';

/**
 * `certmark verify`, with no network:
 *
 * - `--bundle <file>` (what `certmark bundle` saved): a scanned mark or a certificate's credential,
 *   checked against the bundle's keys and status lists (signature, revocation and suspension bits,
 *   a mark's void bit, validity dates), with the browser's code (../verification/offline-verification).
 *   Every answer says how old its status information is; past the bundle's limit it says "status
 *   unknown" (exit 3), never authentic.
 * - `--jwks <file-or-url>` (SPEC "Product marks": a mark can be verified offline with the JWKS alone):
 *   a mark's signature and issuer only (../crypto/offline-mark: `@noble/ed25519`, zip215: false).
 *   What it cannot tell: whether the mark is in the registry, voided, cloned, or its certificate
 *   still valid.
 */
const usage = `usage: certmark verify <mark-code-or-url | credential | @file> --bundle <file> [--log-kid <kid>] [--lang en|zh] [--json]
       certmark verify <mark-code-or-url> --jwks <file-or-url> [--json]
  --bundle <file>       an offline bundle saved by \`certmark bundle\`: checks marks and certificate
                        credentials (signature, status bits, validity dates) and says how old the
                        status is; @file reads a credential from a file
  --log-kid <kid>       refuse a bundle not signed by this transparency-log key
                        (write --log-kid=<kid> when the kid begins with -)
  --lang en|zh          the words of the answer (default en)
  --jwks <file-or-url>  the service's /.well-known/jwks.json: a copy saved beforehand (offline), or
                        its http(s) URL (fetched once; 429 and 503 are retried after Retry-After):
                        a mark's signature and issuer only
  --json                print the result as JSON
  -h, --help            this help
  --version             certmark's version
exit codes: 0 authentic (with --jwks: a genuine signature), 1 forged or invalid (or an altered
bundle), 2 usage error, a file that is no bundle/JWKS, or a typed serial whose check digits fail,
3 not known offline (the bundle is too old or does not cover it, or a typed serial: check online)
`;

export interface VerifyCommandIo {
  readFile: (path: string) => string;
  fetch: (url: string) => Promise<Response>;
  /** The verifier's clock: the bundle's age and the certificate's dates are judged by it. */
  now?: () => Date;
  retry: RetryPolicy;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const defaultIo: VerifyCommandIo = {
  readFile: readBoundedFile,
  fetch: boundedFetch('application/json'),
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
      options: {
        jwks: { type: 'string' },
        bundle: { type: 'string' },
        'log-kid': { type: 'string' },
        lang: { type: 'string' },
        json: { type: 'boolean' },
      },
      positionals: { min: 1, max: 1 },
    },
    io,
  );
  if (parsed.exit !== undefined) return parsed.exit;
  const input = parsed.positionals[0]!;
  const source = parsed.values.jwks;
  const bundlePath = parsed.values.bundle;
  if (typeof bundlePath === 'string') {
    if (typeof source === 'string') {
      io.stderr(`--bundle and --jwks are alternatives\n${usage}`);
      return EXIT.usage;
    }
    const lang = parsed.values.lang ?? 'en';
    if (lang !== 'en' && lang !== 'zh') {
      io.stderr(`--lang is en or zh\n${usage}`);
      return EXIT.usage;
    }
    const logKid = parsed.values['log-kid'];
    return verifyWithBundle(input, bundlePath, {
      io,
      lang,
      json: parsed.values.json === true,
      ...(typeof logKid === 'string' ? { logKid } : {}),
    });
  }
  if (typeof source !== 'string') {
    io.stderr(`--bundle or --jwks is required\n${usage}`);
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

const verdictWords = {
  en: {
    authentic: 'authentic',
    forged: 'forged',
    invalid: 'invalid',
    status_unknown: 'status unknown',
    not_checkable: 'cannot check offline',
  },
  zh: {
    authentic: '真实有效',
    forged: '伪造',
    invalid: '无效',
    status_unknown: '状态未知',
    not_checkable: '无法离线核验',
  },
} as const;

/** An offline finding in the words the offline page gives it (the message is English). */
function reasonInChinese(reason: OfflineAnswer['reasons'][number]): string {
  const t = ui.zh;
  switch (reason.code) {
    case 'REVOKED':
      return t.offlineRevoked;
    case 'SUSPENDED':
      return t.offlineSuspended;
    // The page's own sentences for these speak of "this page": the bundle's words here.
    case 'STATUS_UNKNOWN':
      return '离线数据包的状态信息已过期或未涵盖此项。';
    case 'ISSUER_NOT_IN_BUNDLE':
      return '离线数据包不包含此签发机构的公钥。请使用包含该机构的数据包，或联网查验。';
    case 'SERIAL_ONLY':
      return t.offlineSerialSentence;
    case 'SERIAL_CHECK_FAILED':
      return t.typoSentence;
    case 'CERTIFICATE_LINK':
      return t.offlineLinkSentence;
    default:
      return reasonWords[reason.code].zh;
  }
}

/** The answer in words: the verdict, what was checked, and how old the status information is. */
export function describeOfflineAnswer(answer: OfflineAnswer, lang: 'en' | 'zh'): string {
  const zh = lang === 'zh';
  const lines: string[] = [];
  const subject =
    answer.kind === 'credential'
      ? answer.certificate
        ? `${zh ? '证书' : 'certificate'} ${answer.certificate.number ?? '?'} (${answer.certificate.scheme ?? '?'})${answer.certificate.holder ? `${zh ? '，持有人 ' : ', holder '}${answer.certificate.holder}` : ''}`
        : zh
          ? '证书凭证'
          : 'certificate credential'
      : `${zh ? '标志' : 'mark'}${answer.serial ? ` ${groupSerial(answer.serial)}` : ''}`;
  const by = answer.issuer ? `${zh ? '，签发机构 ' : ', issued by '}${answer.issuer.name}` : '';
  lines.push(`${verdictWords[lang][answer.verdict]}: ${subject}${by}`);
  for (const reason of answer.reasons)
    lines.push(`  ${reason.code}: ${zh ? reasonInChinese(reason) : reason.message}`);
  if (answer.verdict === 'status_unknown')
    lines.push(
      zh
        ? '签名真实，但离线数据包的状态信息已过期或未涵盖此项，无法确定是否已被撤销、暂停或作废。请联网核验。'
        : 'The signature is genuine, but the bundle’s status information is too old or does not cover it, so whether it was revoked, suspended or voided is not known. Check online.',
    );
  const behind = answer.status.clockBehindSeconds;
  if (behind !== undefined)
    lines.push(
      zh
        ? `本机时钟比数据包的生成时间慢 ${formatAge(behind, lang)}：已按数据包的时间核验。请校正时钟。`
        : `This device's clock reads ${formatAge(behind, lang)} before the bundle was made: judged as of the bundle's time. Set the clock right.`,
    );
  const age = formatAge(answer.status.ageSeconds, lang);
  lines.push(
    zh
      ? `状态信息截至 ${answer.status.asOf}（${age}前）；${answer.status.fresh ? `有效至 ${answer.status.freshUntil}` : `已超过时限 ${answer.status.freshUntil}：状态未知`}`
      : `status information as of ${answer.status.asOf} (${age} old); ${answer.status.fresh ? `fresh until ${answer.status.freshUntil}` : `past its limit ${answer.status.freshUntil}: status unknown`}`,
  );
  if (answer.kind === 'mark' && answer.verdict === 'authentic')
    lines.push(
      zh
        ? '离线只核验签名和作废状态；是否被复制（克隆）及其证书状态请联网查验。'
        : 'Offline, a mark’s signature and void bit are checked; clones and its certificate’s status are checked online.',
    );
  return `${lines.join('\n')}\n`;
}

const EXIT_STATUS_UNKNOWN = 3;

async function verifyWithBundle(
  input: string,
  bundlePath: string,
  options: { io: VerifyCommandIo; lang: 'en' | 'zh'; json: boolean; logKid?: string },
): Promise<number> {
  const { io } = options;
  let bundleText: string;
  let subject = input;
  try {
    bundleText = io.readFile(bundlePath);
    if (input.startsWith('@')) subject = io.readFile(input.slice(1));
  } catch (error) {
    io.stderr(`certmark verify: cannot read the file: ${(error as Error).message}\n`);
    return EXIT.usage;
  }
  const read = readOfflineBundle(
    bundleText.trim(),
    options.logKid === undefined ? {} : { logKid: options.logKid },
  );
  if (!read.ok) {
    io.stderr(`certmark verify: the bundle is refused: ${read.message}\n`);
    return bundleRefusalExit(read.problem, bundleText);
  }
  // A bundle vouches for nothing unless its key is the log's: without --log-kid that is left to
  // the reader, so the key is named (a bundle signed by anyone's key otherwise answered
  // authentic without a word: an outside probe).
  if (options.logKid === undefined)
    io.stderr(
      `note: the bundle is signed by the key ${read.bundle.logKid}; compare it with the log key published out of band, or pass --log-kid\n`,
    );
  const answer = verifyOffline(subject, read.bundle, (io.now ?? (() => new Date()))());
  io.stdout(
    options.json ? `${JSON.stringify(answer)}\n` : describeOfflineAnswer(answer, options.lang),
  );
  return offlineExit(answer);
}

/**
 * The exit code of an offline answer: 0 authentic; 1 forged or invalid; 3 what cannot be told
 * offline (status past the bundle's limit or not in it, an issuer the bundle does not cover, a
 * typed serial: check online); 2 a typed serial whose check digits fail (a typing error, not a
 * finding).
 */
export function offlineExit(answer: OfflineAnswer): number {
  if (answer.verdict === 'authentic') return EXIT.ok;
  if (answer.verdict === 'forged' || answer.verdict === 'invalid') return EXIT.finding;
  if (answer.reasons.some((r) => r.code === 'SERIAL_CHECK_FAILED')) return EXIT.usage;
  return EXIT_STATUS_UNKNOWN;
}
