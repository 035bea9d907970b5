/**
 * What of an error may go into a log line (SPEC "Service": never a key, a full credential or a full
 * mark code; no SQL). A failed query's error from drizzle carries the statement and every
 * parameter in its message (`Failed query: … params: <credential>,<mark code>`), and PostgreSQL's
 * own messages quote the offending value (`invalid input syntax for type uuid: "…"`), so an error
 * from the database is logged by its class, SQLSTATE and constraint only. Any other error keeps
 * its message with long token-like runs (keys, codes, credential segments) cut to a prefix.
 */
export interface LoggableError {
  name: string;
  /** SQLSTATE for a database error, or the Node.js error code (ECONNRESET…). */
  code?: string;
  constraint?: string;
  message?: string;
}

/** A run this long of base64url / base32 / hex characters is treated as a secret or a code. */
const TOKEN_RUN = /[A-Za-z0-9+/_-]{24,}={0,2}/g;
const KEPT_PREFIX = 6;

export function redactTokens(text: string): string {
  return text.replace(TOKEN_RUN, (run) => `${run.slice(0, KEPT_PREFIX)}…`);
}

const SQLSTATE = /^[0-9A-Z]{5}$/;

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  constraint?: unknown;
  message?: unknown;
  cause?: unknown;
  query?: unknown;
}

/** The database error inside an error (drizzle wraps the driver's in `cause`), if there is one. */
function databaseErrorIn(error: unknown): ErrorLike | undefined {
  for (let e = error as ErrorLike | undefined, depth = 0; e && depth < 5; depth++) {
    if (typeof e.code === 'string' && SQLSTATE.test(e.code)) return e;
    e = e.cause as ErrorLike | undefined;
  }
  return undefined;
}

export function loggableError(error: unknown): LoggableError {
  if (typeof error === 'string') {
    // A failed query's message passed on as a string: nothing of it is safe to keep.
    if (error.startsWith('Failed query:')) return { name: 'DrizzleQueryError' };
    return { name: 'Error', message: redactTokens(error) };
  }
  if (!error || typeof error !== 'object') return { name: typeof error };
  const outer = error as ErrorLike;
  // drizzle's DrizzleQueryError leaves `name` as 'Error': its class says more.
  const className = (error as { constructor?: { name?: unknown } }).constructor?.name;
  const name =
    typeof outer.name === 'string' && outer.name !== 'Error'
      ? outer.name
      : typeof className === 'string' && className !== 'Object'
        ? className
        : 'Error';
  const database = databaseErrorIn(error);
  if (database) {
    return {
      name,
      code: database.code as string,
      ...(typeof database.constraint === 'string' ? { constraint: database.constraint } : {}),
    };
  }
  // A drizzle query error without a SQLSTATE (the connection failed under it): the cause's code.
  if (typeof outer.query === 'string') {
    const cause = outer.cause as ErrorLike | undefined;
    return {
      name,
      ...(typeof cause?.code === 'string' ? { code: cause.code } : {}),
      ...(typeof cause?.message === 'string' ? { message: redactTokens(cause.message) } : {}),
    };
  }
  return {
    name,
    ...(typeof outer.code === 'string' ? { code: outer.code } : {}),
    ...(typeof outer.message === 'string' ? { message: redactTokens(outer.message) } : {}),
  };
}
