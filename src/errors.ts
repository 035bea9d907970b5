import type { Context } from 'hono';
import { redactPath } from './http/redact';

/**
 * One error model for the whole service (RFC 9457 problem+json). Every failure a client can cause
 * has a stable machine `code` below; the HTTP status comes from this one table.
 */
export const errorStatus = {
  bad_request: 400,
  validation_failed: 400,
  malformed_json: 400,
  invalid_uscc: 400,
  /** An import file that cannot be read as a whole: not UTF-8, a bad CSV header, no rows. */
  malformed_import: 400,
  /** A transparency-log size, index or page outside the log as it is. */
  invalid_tree_size: 400,
  unauthorized: 401,
  forbidden: 403,
  scheme_not_approved: 403,
  issuer_suspended: 403,
  not_found: 404,
  /** The path exists but not with this method: the answer carries `Allow`. */
  method_not_allowed: 405,
  duplicate_number: 409,
  status_final: 409,
  /** A status change to the status the certificate already has. */
  status_unchanged: 409,
  /** Marks asked for a certificate that is not valid now (suspended, expired, revoked…). */
  certificate_not_valid: 409,
  /** The issuer has no current signing key (every key retired or compromised): rotate first. */
  no_signing_key: 409,
  /** A key that is already marked compromised. */
  key_already_compromised: 409,
  /** Exporting or printing a batch whose signing key was declared compromised since. */
  batch_key_compromised: 409,
  /** An inspection draw that another request drew first. */
  draw_already_made: 409,
  /** Concurrent deductions kept changing the exemption; the same declaration can be sent again. */
  exemption_contended: 409,
  declaration_conflict: 409,
  alert_already_resolved: 409,
  /** An upload under the same `Idempotency-Key` is still being received (send it again after). */
  idempotency_key_in_use: 409,
  /** A mark batch still being written (or failed): its marks cannot be listed or printed yet. */
  batch_not_ready: 409,
  mark_already_void: 409,
  /** A request not received in time (headers or body stalled). */
  request_timeout: 408,
  payload_too_large: 413,
  /** A request line or headers larger than the server reads (a URL of many kilobytes). */
  request_header_too_large: 431,
  /** A body in a media type the operation does not take (e.g. not `application/json`), or in a
   * content coding it does not decode (`Content-Encoding: gzip`). */
  unsupported_media_type: 415,
  /** An `Expect` other than 100-continue. */
  expectation_failed: 417,
  unprocessable: 422,
  /** An `Idempotency-Key` already used for another request (other content): a new one is needed. */
  idempotency_key_reused: 422,
  serial_check_failed: 422,
  ambiguous_number: 422,
  not_an_exemption: 422,
  /** Marks for a product model the certificate does not cover. */
  model_out_of_scope: 422,
  /** More marks for a CCC exemption than the units it covers. */
  quantity_exceeded: 422,
  /** A label PDF's `from`/`to` outside the batch's positions, or `from` after `to`. */
  label_range_invalid: 422,
  /** An inspection draw whose filter matches more certificates than a draw may publish. */
  too_many_candidates: 422,
  /** A webhook URL that is not https, or that reaches a private or local address (SSRF). */
  webhook_url_refused: 422,
  rate_limited: 429,
  internal_error: 500,
  database_unavailable: 503,
  service_starting: 503,
  /** A request pipelined behind the last answer of a connection closing at shutdown. */
  service_stopping: 503,
} as const;

export type ErrorCode = keyof typeof errorStatus;

/** Every code, for the closed enum of the OpenAPI problem schema. */
export const errorCodes = Object.keys(errorStatus) as [ErrorCode, ...ErrorCode[]];

export interface FieldError {
  path: string;
  message: string;
}

/**
 * The members a problem may carry beside the RFC 9457 ones (RFC 9457 §3.2 extension members).
 * Each is named here, so no caller can put an arbitrary value (a row, a key) into an answer.
 */
export interface ProblemExtensions {
  /** Field errors of a `validation_failed` (or other 4xx about named fields). */
  errors?: FieldError[];
  /** `ambiguous_number`: the issuers holding the number, to pick `issuerId` from. */
  issuers?: { id: string; name: string }[];
  /** `alert_already_resolved`: when it was resolved. */
  resolvedAt?: string | null;
}

/** What an AppError carries: extension members for the body, and what becomes a header. */
export interface AppErrorDetails extends ProblemExtensions {
  /** `Retry-After` in seconds (429, 503). */
  retryAfterSeconds?: number;
  /** `Allow`: the methods the path answers (405). */
  allow?: readonly string[];
}

export class AppError extends Error {
  override readonly name = 'AppError';
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: AppErrorDetails = {},
  ) {
    super(message);
    this.status = errorStatus[code];
  }
}

export const notFound = (what: string) => new AppError('not_found', `${what} not found`);
export const forbidden = (message = 'this API key may not do that') =>
  new AppError('forbidden', message);
export const validationFailed = (errors: FieldError[], message = 'the request is not valid') =>
  new AppError('validation_failed', message, { errors });

const titles: Partial<Record<ErrorCode, string>> = {
  validation_failed: 'Validation failed',
  unauthorized: 'Unauthorized',
  forbidden: 'Forbidden',
  not_found: 'Not found',
  method_not_allowed: 'Method not allowed',
  request_timeout: 'Request timeout',
  payload_too_large: 'Payload too large',
  expectation_failed: 'Expectation failed',
  request_header_too_large: 'Request header fields too large',
  unsupported_media_type: 'Unsupported media type',
  rate_limited: 'Too many requests',
  internal_error: 'Internal error',
  database_unavailable: 'Service unavailable',
  service_starting: 'Service unavailable',
  service_stopping: 'Service unavailable',
};

/** The members every problem has: type, title, status, code and detail. */
export function problemBody(error: AppError) {
  return {
    type: `https://certmark.dev/problems/${error.code}`,
    title: titles[error.code] ?? error.code.replaceAll('_', ' '),
    status: error.status,
    code: error.code,
    detail: error.message,
  };
}

/** Writes the problem+json body for an AppError; never includes a stack, SQL or key material. */
export function problemResponse(c: Context, error: AppError): Response {
  const { errors, issuers, resolvedAt, retryAfterSeconds, allow } = error.details;
  const extensions: ProblemExtensions = { errors, issuers, resolvedAt };
  const requestId = c.get('requestId') as string | undefined;
  const body = {
    ...problemBody(error),
    // The path may hold a mark code (`/m/<code>`): a problem never repeats it whole.
    instance: redactPath(c.req.path),
    requestId,
    ...extensions,
  };
  const headers: Record<string, string> = {
    'content-type': 'application/problem+json',
    'cache-control': 'no-store',
  };
  if (requestId) headers['x-request-id'] = requestId;
  if (retryAfterSeconds !== undefined) headers['retry-after'] = String(retryAfterSeconds);
  if (allow) headers.allow = allow.join(', ');
  if (error.code === 'unauthorized') headers['www-authenticate'] = 'Bearer realm="certmark"';
  return new Response(JSON.stringify(body), { status: error.status, headers });
}

const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'EPIPE',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
  '57014', // query_canceled: statement_timeout, an overloaded or stuck server
  '25P03', // idle_in_transaction_session_timeout ended the session
  '08000',
  '08003',
  '08006',
  '08001',
  '08004',
  'CERTMARK_DB_UNAVAILABLE', // the database breaker is open (src/db/database-breaker.ts)
]);

/** An error's fields the checks below read, on the error or one of its causes. */
interface ErrorFields {
  code?: unknown;
  message?: unknown;
  constraint?: unknown;
  cause?: unknown;
}

/** Whether `error` or one of its causes (five deep) passes `test`: drivers wrap what they report. */
function someCause(error: unknown, test: (err: ErrorFields) => boolean): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 5; depth++) {
    const err = e as ErrorFields;
    if (test(err)) return true;
    e = err.cause;
  }
  return false;
}

/** True when an error means "the database is not reachable right now" (answer 503, retry later). */
export function isDatabaseUnavailable(error: unknown): boolean {
  return someCause(
    error,
    (err) =>
      (typeof err.code === 'string' && CONNECTION_ERROR_CODES.has(err.code)) ||
      (typeof err.message === 'string' &&
        /timeout exceeded when trying to connect|Connection terminated|connect ECONNREFUSED|Client has encountered a connection error|Client was closed and is not queryable/i.test(
          err.message,
        )),
  );
}

/**
 * PostgreSQL query_canceled (57014: statement_timeout): unavailability too, but of a busy server,
 * which a retry would only load further.
 */
export function isStatementTimeout(error: unknown): boolean {
  return someCause(error, (err) => err.code === '57014');
}

/** PostgreSQL unique_violation on the named constraint (or any, when no name is given). */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  return someCause(
    error,
    (err) => err.code === '23505' && (!constraint || err.constraint === constraint),
  );
}
