import http from 'node:http';
import https from 'node:https';
import { Webhook } from 'standardwebhooks';
import {
  checkTargetAddresses,
  checkTargetUrl,
  guardedLookup,
  TargetRefused,
  type TargetPolicy,
} from './webhook-target';

/** One message to send: the subscription's URL and secret, the delivery's id and body. */
export interface WebhookMessage {
  url: string;
  /** `whsec_…`: the subscription's Standard Webhooks secret. */
  secret: string;
  /** The delivery's id: `webhook-id`, the same on every attempt. */
  id: string;
  /** The exact body, `{ type, timestamp, data }` as JSON. */
  body: string;
}

/** What one attempt came to. `error` is a short code, never a message that could quote the URL. */
export interface AttemptOutcome {
  ok: boolean;
  status: number | null;
  error: string | null;
  durationMs: number;
}

export interface SenderOptions extends TargetPolicy {
  /** The whole attempt (connect, send, answer) must end within this (issue 13: a receiver that hangs). */
  timeoutMs: number;
  userAgent?: string;
}

/** A receiver's answer body is read up to this, then dropped: it means nothing to us. */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * Sends one webhook per Standard Webhooks (v1): `webhook-id`, `webhook-timestamp` (this attempt's
 * time, in seconds) and `webhook-signature` (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body`),
 * signed by the `standardwebhooks` package. A 2xx answer is delivered; anything else, a timeout, or
 * a refused address is a failed attempt to retry. Redirects are not followed (a 3xx fails).
 */
export async function sendWebhook(
  message: WebhookMessage,
  options: SenderOptions,
  now: () => Date = () => new Date(),
): Promise<AttemptOutcome> {
  const started = performance.now();
  const done = (ok: boolean, status: number | null, error: string | null): AttemptOutcome => ({
    ok,
    status,
    error,
    durationMs: Math.round(performance.now() - started),
  });
  let url: URL;
  try {
    url = checkTargetUrl(message.url, options);
    await checkTargetAddresses(url, options);
  } catch (error) {
    return done(false, null, error instanceof TargetRefused ? 'address_refused' : 'network');
  }
  const at = now();
  const headers = {
    'content-type': 'application/json',
    'user-agent': options.userAgent ?? 'certmark-webhooks/1',
    'webhook-id': message.id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(message.secret).sign(message.id, at, message.body),
  };
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise<AttemptOutcome>((resolve) => {
    let settled = false;
    const settle = (outcome: AttemptOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    const request = transport.request(
      url,
      { method: 'POST', headers, lookup: guardedLookup(options), agent: false },
      (response) => {
        let read = 0;
        response.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > MAX_ANSWER_BYTES) response.destroy();
        });
        const status = response.statusCode ?? 0;
        const finish = () =>
          settle(
            status >= 200 && status < 300
              ? done(true, status, null)
              : done(false, status, `http_${status}`),
          );
        response.on('end', finish);
        response.on('close', finish);
        response.on('error', finish);
      },
    );
    const timer = setTimeout(() => {
      settle(done(false, null, 'timeout'));
      request.destroy();
    }, options.timeoutMs);
    request.on('error', (error: NodeJS.ErrnoException) =>
      settle(done(false, null, errorCode(error))),
    );
    request.end(message.body);
  });
}

function errorCode(error: NodeJS.ErrnoException): string {
  if (error instanceof TargetRefused) return 'address_refused';
  switch (error.code) {
    case 'ECONNREFUSED':
      return 'connection_refused';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'connection_reset';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'dns';
    case 'ETIMEDOUT':
      return 'timeout';
    default:
      return error.code?.startsWith('ERR_TLS') || error.code?.includes('CERT') ? 'tls' : 'network';
  }
}
