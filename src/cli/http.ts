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
