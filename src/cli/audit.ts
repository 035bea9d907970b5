import fs from 'node:fs';
import { AuditLogVerifier, type AuditVerification } from '../audit/audit-verifier';
import type { JwksLike } from '../audit/checkpoint';
import { EXIT, cliVersion, parseCommand } from './command';
import {
  boundedFetch,
  defaultRetryPolicy,
  fetchWithRetry,
  readBoundedFile,
  type RetryPolicy,
} from './http';
import { progressBar, type Progress } from './progress';
import { checkCosignedCheckpoint, type CosignedCheckpoint } from '../audit/cosigned-checkpoint';
import { parseWitnessKey } from '../audit/witness-config';
import { jwkThumbprint } from '../crypto/ed25519-core';
import { verifyConsistency } from '../crypto/merkle';
import type { NoteVerifier } from '../crypto/signed-note';

/**
 * `certmark audit verify --url <base>`: downloads the JWKS, the signed checkpoint and every entry of
 * the audit log, page by page, and checks them (src/audit/audit-verifier.ts). Exit code 0 when the
 * log is intact, 1 when it was tampered with (the first tampered entry is printed), 2 for a usage
 * or network error.
 */
const usage = `usage: certmark audit verify --url <base-url> [options]
  --url <base-url>           the service, e.g. https://certmark.example.org
  --since-checkpoint <file>  a checkpoint saved earlier: check that today's log extends it
  --save-checkpoint <file>   after a successful check, save the checkpoint for next time
  --page-size <n>            entries per request (1..10000, default 10000)
  --log-kid <kid>            trust only this log key (its kid, compared out of band; write
                             --log-kid=<kid> when it begins with -); without it, the saved
                             checkpoint's key, else the service's JWKS (printed to compare)
  --witness <vkey>           a witness's note verifier key (repeatable): check the cosignatures of
                             GET /log/checkpoint and that it is consistent with the log checked
  --quorum <k>               valid cosignatures required of those witnesses (default: all of them)
  --json                     print the result as JSON (no progress bar)
  -h, --help                 this help
  --version                  certmark's version
A busy service (429) or one without its database (503) is asked again after its Retry-After, up to
${defaultRetryPolicy.attempts} times in all.
exit codes: 0 intact (and witnessed), 1 tampered or not witnessed, 2 usage or network error
`;

const groupUsage = `usage: certmark audit <command>
  verify --url <base-url>   recompute the audit log's Merkle tree and check its signed checkpoint
(certmark audit verify --help for its options)
`;

export interface AuditCommandIo {
  fetch: (url: string) => Promise<Response>;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** How 429 and 503 answers are retried (default: defaultRetryPolicy, real waits). */
  retry?: RetryPolicy;
  /** Progress of the download and check (default: a bar on a terminal, nothing otherwise). */
  progress?: (options: { json: boolean }) => Progress;
}

const defaultIo: AuditCommandIo = {
  fetch: boundedFetch('application/json'),
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  retry: {
    ...defaultRetryPolicy,
    onRetry: ({ url, status, waitSeconds, attempt }) =>
      process.stderr.write(
        `${url} answered ${status}; retrying in ${waitSeconds} s (attempt ${attempt + 1} of ${defaultRetryPolicy.attempts})\n`,
      ),
  },
  progress: ({ json }) =>
    progressBar({ label: 'entries', enabled: Boolean(process.stdout.isTTY) && !json }),
};

class UsageOrNetworkError extends Error {}

async function get(io: AuditCommandIo, url: string): Promise<Response> {
  let res: Response;
  try {
    res = await fetchWithRetry(io.fetch, url, io.retry ?? defaultRetryPolicy);
  } catch (error) {
    throw new UsageOrNetworkError(`cannot reach ${url}: ${(error as Error).message}`);
  }
  if (!res.ok) throw new UsageOrNetworkError(`${url} answered ${res.status}`);
  return res;
}

async function getJson(io: AuditCommandIo, url: string): Promise<unknown> {
  const res = await get(io, url);
  try {
    return await res.json();
  } catch {
    throw new UsageOrNetworkError(`${url} did not answer JSON`);
  }
}

/** The platform keys of the JWKS (`issuer: "certmark"`): the keys that sign the log. */
function logPublicKeys(jwks: JwksLike): Uint8Array[] {
  return jwks.keys.flatMap((k) =>
    k.issuer === 'certmark' && k.kty === 'OKP' && k.crv === 'Ed25519' && typeof k.x === 'string'
      ? [new Uint8Array(Buffer.from(k.x, 'base64url'))]
      : [],
  );
}

/**
 * Checks the served checkpoint note (GET /log/checkpoint): the log's signature, `quorum` valid
 * cosignatures of `witnesses`, and that its tree and the tree just verified are one history (a
 * consistency proof between the two sizes, checked here, in whichever direction the log grew).
 */
export async function verifyWitnessedCheckpoint(
  io: Pick<AuditCommandIo, 'fetch' | 'retry'>,
  options: {
    baseUrl: string;
    jwks: JwksLike;
    verified: { treeSize: number; rootHash: string };
    witnesses: NoteVerifier[];
    quorum: number;
  },
): Promise<CosignedCheckpoint> {
  const base = options.baseUrl.replace(/\/+$/, '');
  const note = await (await get(io as AuditCommandIo, `${base}/log/checkpoint`)).text();
  const checked = checkCosignedCheckpoint(note, {
    logPublicKeys: logPublicKeys(options.jwks),
    witnesses: options.witnesses,
    quorum: options.quorum,
  });
  if (!checked.ok || !checked.checkpoint) return checked;
  const witnessed = { size: checked.checkpoint.size, root: checked.checkpoint.root };
  const verified = {
    size: options.verified.treeSize,
    root: new Uint8Array(Buffer.from(options.verified.rootHash, 'base64')),
  };
  if (witnessed.size === 0 || verified.size === 0) {
    return witnessed.size === verified.size
      ? checked
      : { ...checked, ok: false, problem: 'the witnessed checkpoint is of an empty tree' };
  }
  const [smaller, larger] =
    witnessed.size <= verified.size ? [witnessed, verified] : [verified, witnessed];
  let proof: Uint8Array[] = [];
  if (smaller.size < larger.size) {
    const body = (await getJson(
      io as AuditCommandIo,
      `${base}/v1/transparency/proof/consistency?from=${smaller.size}&to=${larger.size}`,
    )) as { proof?: unknown } | null;
    if (!Array.isArray(body?.proof) || !body.proof.every((p) => typeof p === 'string')) {
      throw new UsageOrNetworkError('the consistency proof has no proof array');
    }
    proof = (body.proof as string[]).map((p) => new Uint8Array(Buffer.from(p, 'base64')));
  }
  try {
    verifyConsistency({
      size1: smaller.size,
      size2: larger.size,
      root1: smaller.root,
      root2: larger.root,
      proof,
    });
  } catch (error) {
    return {
      ...checked,
      ok: false,
      problem: `the witnessed checkpoint (${witnessed.size} entries) is not consistent with the log verified (${verified.size} entries): ${(error as Error).message}`,
    };
  }
  return checked;
}

export interface RemoteAuditOptions {
  baseUrl: string;
  saved?: unknown;
  pageSize?: number;
  /** The one log key to trust (else the saved checkpoint's, else every self-consistent one). */
  logKid?: string | undefined;
  onProgress?: (verified: number, total: number) => void;
}

/**
 * The JWKS as far as the log's signatures go: a log key (`issuer: "certmark"`) is kept only when
 * its kid is its own RFC 7638 thumbprint, and only the pinned one when a kid is pinned. The JWKS
 * comes from the service being checked: without this, a server rewriting its log served its own
 * key under the genuine kid (so the kid printed to compare said nothing), or added a key of its
 * own beside the genuine one and signed the rewritten part with it (an outside probe).
 */
export function trustedLogKeys(jwks: JwksLike, pinnedKid: string | undefined): JwksLike {
  return {
    keys: jwks.keys.filter((k) => {
      if (k.issuer !== 'certmark') return true;
      if (k.kty !== 'OKP' || k.crv !== 'Ed25519' || typeof k.x !== 'string') return false;
      const x = Buffer.from(k.x, 'base64url');
      if (x.length !== 32 || k.kid !== jwkThumbprint(new Uint8Array(x))) return false;
      return pinnedKid === undefined || k.kid === pinnedKid;
    }),
  };
}

/**
 * Fetches and verifies a service's audit log. Throws only for network or protocol errors; a
 * tampered log is a result, not an exception.
 */
export async function verifyRemoteAuditLog(
  io: Pick<AuditCommandIo, 'fetch' | 'retry'>,
  options: RemoteAuditOptions,
): Promise<{ result: AuditVerification; checkpoint: unknown; jwks: JwksLike }> {
  const base = options.baseUrl.replace(/\/+$/, '');
  const pageSize = options.pageSize ?? 10_000;
  const get = (path: string) => getJson(io as AuditCommandIo, `${base}${path}`);
  const served = (await get('/.well-known/jwks.json')) as JwksLike;
  if (!served || !Array.isArray(served.keys))
    throw new UsageOrNetworkError('the JWKS has no keys array');
  const savedKid = (options.saved as { kid?: unknown } | undefined)?.kid;
  const jwks = trustedLogKeys(
    served,
    options.logKid ?? (typeof savedKid === 'string' ? savedKid : undefined),
  );
  const checkpoint = (await get('/v1/transparency/checkpoint')) as { treeSize?: unknown };
  const treeSize = Number.isSafeInteger(checkpoint?.treeSize) ? (checkpoint.treeSize as number) : 0;
  const savedSize = (options.saved as { treeSize?: unknown } | undefined)?.treeSize;
  const verifier = new AuditLogVerifier({
    savedSize: Number.isSafeInteger(savedSize) ? (savedSize as number) : undefined,
  });

  // One page ahead: the service prepares the next page while this one is being verified.
  const fetchPage = (start: number): Promise<unknown[]> => {
    const end = Math.min(start + pageSize, treeSize);
    const page = get(`/v1/transparency/entries?start=${start}&end=${end}`).then((body) => {
      const entries = (body as { entries?: unknown } | null)?.entries;
      if (!Array.isArray(entries))
        throw new UsageOrNetworkError('an entries page has no entries array');
      return entries as unknown[];
    });
    page.catch(() => {}); // awaited below; never an unhandled rejection meanwhile
    return page;
  };
  let next = treeSize > 0 ? fetchPage(0) : undefined;
  for (let start = 0; next;) {
    const entries = await next;
    start += entries.length;
    // Fewer entries than signed ends the loop: the verifier reports the size mismatch.
    next = entries.length > 0 && start < treeSize ? fetchPage(start) : undefined;
    for (const entry of entries) verifier.add(entry);
    options.onProgress?.(start, treeSize);
  }

  let consistencyProof: string[] | undefined;
  if (
    Number.isSafeInteger(savedSize) &&
    (savedSize as number) >= 1 &&
    (savedSize as number) <= treeSize
  ) {
    const proof = (await get(
      `/v1/transparency/proof/consistency?from=${savedSize as number}&to=${treeSize}`,
    )) as {
      proof?: unknown;
    };
    consistencyProof = Array.isArray(proof?.proof) ? (proof.proof as string[]) : [];
  }
  const result = verifier.finish({
    jwks,
    checkpoint,
    ...(options.saved !== undefined ? { saved: options.saved, consistencyProof } : {}),
  });
  return { result, checkpoint, jwks };
}

export async function runAuditCommand(
  args: string[],
  io: AuditCommandIo = defaultIo,
): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'verify':
      return runAuditVerify(rest, io);
    case '--help':
    case '-h':
      io.stdout(groupUsage);
      return EXIT.ok;
    case '--version':
      io.stdout(`certmark ${cliVersion()}\n`);
      return EXIT.ok;
    default:
      io.stderr(sub === undefined ? groupUsage : `unknown command: audit ${sub}\n${groupUsage}`);
      return EXIT.usage;
  }
}

async function runAuditVerify(args: string[], io: AuditCommandIo): Promise<number> {
  const parsed = parseCommand(
    args,
    {
      usage,
      options: {
        url: { type: 'string' },
        'since-checkpoint': { type: 'string' },
        'save-checkpoint': { type: 'string' },
        'page-size': { type: 'string' },
        'log-kid': { type: 'string' },
        json: { type: 'boolean' },
        witness: { type: 'string', multiple: true },
        quorum: { type: 'string' },
      },
    },
    io,
  );
  if (parsed.exit !== undefined) return parsed.exit;
  const values = parsed.values as {
    url?: string;
    'since-checkpoint'?: string;
    'save-checkpoint'?: string;
    'page-size'?: string;
    'log-kid'?: string;
    json?: boolean;
    witness?: string[];
    quorum?: string;
  };
  const witnesses: NoteVerifier[] = [];
  for (const vkey of values.witness ?? []) {
    let witness: NoteVerifier;
    try {
      witness = parseWitnessKey(vkey);
    } catch (error) {
      io.stderr(`--witness ${vkey}: not a note verifier key (${(error as Error).message})\n`);
      return EXIT.usage;
    }
    // One witness twice would count its one cosignature twice towards a quorum.
    if (witnesses.some((w) => w.name === witness.name && w.keyId === witness.keyId)) {
      io.stderr(`--witness ${witness.name}: given twice\n${usage}`);
      return EXIT.usage;
    }
    witnesses.push(witness);
  }
  if (witnesses.length === 0 && values.quorum !== undefined) {
    io.stderr(`--quorum needs --witness\n${usage}`);
    return EXIT.usage;
  }
  const quorum = values.quorum === undefined ? witnesses.length : Number(values.quorum);
  if (
    witnesses.length > 0 &&
    (!/^[0-9]+$/.test(values.quorum ?? '1') || quorum < 1 || quorum > witnesses.length)
  ) {
    io.stderr(`--quorum must be an integer in 1..${witnesses.length}\n${usage}`);
    return EXIT.usage;
  }
  if (!values.url || !/^https?:\/\//.test(values.url)) {
    io.stderr(`--url must be an http(s) URL\n${usage}`);
    return EXIT.usage;
  }
  const pageSize = values['page-size'] === undefined ? 10_000 : Number(values['page-size']);
  if (!Number.isSafeInteger(pageSize) || pageSize < 1 || pageSize > 10_000) {
    io.stderr(`--page-size must be an integer in 1..10000\n${usage}`);
    return EXIT.usage;
  }
  let saved: unknown;
  if (values['since-checkpoint']) {
    try {
      saved = JSON.parse(readBoundedFile(values['since-checkpoint']));
    } catch (error) {
      io.stderr(`cannot read the saved checkpoint: ${(error as Error).message}\n`);
      return EXIT.usage;
    }
  }

  const started = performance.now();
  const progress = io.progress?.({ json: Boolean(values.json) });
  let outcome: Awaited<ReturnType<typeof verifyRemoteAuditLog>>;
  let witnessed: CosignedCheckpoint | undefined;
  try {
    outcome = await verifyRemoteAuditLog(io, {
      baseUrl: values.url,
      saved,
      pageSize,
      logKid: values['log-kid'],
      onProgress: (verified, total) => progress?.update(verified, total),
    });
    if (witnesses.length > 0 && outcome.result.ok) {
      witnessed = await verifyWitnessedCheckpoint(io, {
        baseUrl: values.url,
        jwks: outcome.jwks,
        verified: outcome.result,
        witnesses,
        quorum,
      });
    }
  } catch (error) {
    if (error instanceof UsageOrNetworkError) {
      io.stderr(`${error.message}\n`);
      return EXIT.usage;
    }
    throw error;
  } finally {
    progress?.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  const { result, checkpoint } = outcome;

  const ok = result.ok && (witnessed === undefined || witnessed.ok);
  if (values.json) {
    const report = witnessed && {
      ok: witnessed.ok,
      treeSize: witnessed.checkpoint?.size,
      cosigners: witnessed.cosigners,
      quorum,
      ...(witnessed.problem ? { problem: witnessed.problem } : {}),
    };
    io.stdout(
      `${JSON.stringify(report ? { ...result, ok, witnessed: report } : result, null, 2)}\n`,
    );
  } else if (result.ok) {
    const c = checkpoint as { timestamp: string; kid: string };
    io.stdout(
      `OK: ${result.treeSize} entries, root ${result.rootHash}, checkpoint of ${c.timestamp} signed by ${c.kid}` +
        (saved !== undefined
          ? `, consistent with the saved checkpoint of ${(saved as { treeSize: number }).treeSize} entries`
          : '') +
        ` (${seconds.toFixed(1)} s)\n`,
    );
    if (values['log-kid'] === undefined && saved === undefined)
      io.stderr(
        `note: the log key was taken from ${values.url}'s own JWKS: compare ${c.kid} with the one published out of band, or pass --log-kid\n`,
      );
    if (witnessed?.ok) {
      io.stdout(
        `WITNESSED: checkpoint of ${witnessed.checkpoint!.size} entries cosigned by ${witnessed.cosigners.length} of ${witnesses.length} witnesses (${witnessed.cosigners.map((c) => c.name).join(', ')}), ${quorum} required\n`,
      );
    } else if (witnessed) {
      io.stdout(`NOT WITNESSED: ${witnessed.problem}\n`);
    }
  } else {
    if (result.firstTampered) {
      io.stdout(
        `TAMPERED: first tampered entry: seq ${result.firstTampered.seq} (${result.firstTampered.code})\n`,
      );
    } else {
      io.stdout('TAMPERED: the log does not match its signed checkpoint\n');
    }
    for (const problem of result.problems) io.stdout(`  - ${problem.code}: ${problem.message}\n`);
  }

  if (ok && values['save-checkpoint']) {
    try {
      fs.writeFileSync(values['save-checkpoint'], `${JSON.stringify(checkpoint, null, 2)}\n`);
    } catch (error) {
      io.stderr(`cannot save the checkpoint: ${(error as Error).message}\n`);
      return EXIT.usage;
    }
  }
  return ok ? EXIT.ok : EXIT.finding;
}
