import fs from 'node:fs';

/**
 * HTTP for the command line: a service that is busy (429) or whose database is away (503) says
 * when to come back in `Retry-After` (RFC 9110 §10.2.3); the CLI waits that long and tries again,
 * a bounded number of times, instead of giving up on the first answer.
 */
export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  /** A `Retry-After` longer than this is not waited for: the answer is returned as it is. */
  maxWaitSeconds: number;
  /** Wait used when the answer has no (readable) `Retry-After`. */
  defaultWaitSeconds: number;
  sleep: (ms: number) => Promise<void>;
  /** Told before each wait, e.g. to say so on stderr. */
  onRetry?: (info: { url: string; status: number; waitSeconds: number; attempt: number }) => void;
}

export const defaultRetryPolicy: RetryPolicy = {
  attempts: 4,
  maxWaitSeconds: 60,
  defaultWaitSeconds: 2,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

const RETRIED = new Set([429, 503]);

/**
 * Seconds to wait from a `Retry-After` value: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
 * Undefined when absent or unreadable.
 */
export function retryAfterSeconds(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now) / 1000));
}

/**
 * `fetch` that honours 429 and 503 with `Retry-After`: waits and tries again up to
 * `policy.attempts` times in all, then returns the last answer (the caller reports it).
 */
export async function fetchWithRetry(
  fetch: (url: string) => Promise<Response>,
  url: string,
  policy: RetryPolicy = defaultRetryPolicy,
): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    const res = await fetch(url);
    if (!RETRIED.has(res.status) || attempt >= policy.attempts) return res;
    const waitSeconds =
      retryAfterSeconds(res.headers.get('retry-after')) ?? policy.defaultWaitSeconds;
    if (waitSeconds > policy.maxWaitSeconds) return res;
    await res.body?.cancel().catch(() => {});
    policy.onRetry?.({ url, status: res.status, waitSeconds, attempt });
    await policy.sleep(waitSeconds * 1000);
  }
}

/** How long one request may take, answer and body, before the command gives up on it. */
export const REQUEST_TIMEOUT_MS = 60_000;
/** The largest answer the command reads (an offline bundle is refused past 64 MiB). */
export const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/**
 * `fetch` for the commands: the whole answer read within {@link REQUEST_TIMEOUT_MS} and at most
 * {@link MAX_ANSWER_BYTES}, and handed over read (a Response over the bytes), so a server that
 * stops midway, trickles, never answers or sends gigabytes is a network error the command reports
 * in one line, never a crash, a hang or a process out of memory.
 */
export function boundedFetch(accept: string): (url: string) => Promise<Response> {
  return async (url) => {
    const signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    try {
      const res = await fetch(url, { headers: { accept }, signal });
      const declared = Number(res.headers.get('content-length') ?? '0');
      if (declared > MAX_ANSWER_BYTES) {
        await res.body?.cancel().catch(() => {});
        throw new Error(`the answer is larger than ${MAX_ANSWER_BYTES / 1024 / 1024} MiB`);
      }
      const chunks: Uint8Array[] = [];
      let bytes = 0;
      for await (const chunk of (res.body ?? []) as unknown as AsyncIterable<Uint8Array>) {
        bytes += chunk.byteLength;
        if (bytes > MAX_ANSWER_BYTES)
          throw new Error(`the answer is larger than ${MAX_ANSWER_BYTES / 1024 / 1024} MiB`);
        chunks.push(chunk);
      }
      return new Response(res.status === 204 || res.status === 304 ? null : Buffer.concat(chunks), {
        status: res.status,
        statusText: res.statusText,
        headers: res.headers,
      });
    } catch (error) {
      if (signal.aborted)
        throw new Error(`no whole answer within ${REQUEST_TIMEOUT_MS / 1000} s`, { cause: error });
      throw error;
    }
  };
}

/** The largest file a command reads (a credential, a bundle, a saved checkpoint). */
export const MAX_FILE_BYTES = 64 * 1024 * 1024;

/**
 * A file's text, refused when it is not a regular file or is larger than {@link MAX_FILE_BYTES}
 * (`@/dev/zero` read until memory ran out).
 */
export function readBoundedFile(path: string): string {
  const fd = fs.openSync(path, 'r');
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new Error(`${path} is not a regular file`);
    if (stat.size > MAX_FILE_BYTES)
      throw new Error(`${path} is larger than ${MAX_FILE_BYTES / 1024 / 1024} MiB`);
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}
