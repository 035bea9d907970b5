import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { Hook, RouteConfig } from '@hono/zod-openapi';
import { errorCodes, validationFailed, type FieldError } from '../errors';
import type { AppEnv } from './env';
import { isValidRegionCode, usccProblem } from '../shared/identifiers';
import { isCountryCode } from '../shared/countries';
import { findUnstorableText, quotableText } from '../shared/text';
import { malformedQueryParameter, queryInteger } from './query';
import { emptyBodyIsNone, noBody } from './no-body';
import { EARLIEST_DATE, isCalendarDay, isSaneInstant, LATEST_DATE } from '../shared/dates';

/** Zod issues → the SPEC's `errors: [{ path, message }]`; an unknown field or parameter is named. */
export function fieldErrors(issues: readonly z.core.$ZodIssue[], prefix = ''): FieldError[] {
  const pathOf = (...parts: PropertyKey[]) =>
    [prefix, ...parts.map(String)].filter(Boolean).join('.') || '(body)';
  return issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({
          path: pathOf(...issue.path, quotableText(key)),
          message:
            prefix === 'query' ? 'is not a parameter of this operation' : 'is not a field here',
        }))
      : [{ path: pathOf(...issue.path), message: issue.message }],
  );
}

/**
 * A query string's field errors in its own terms. Zod sees a parameter given twice as an array
 * ("expected string, received array", or "Invalid option" for an enum though each value is one)
 * and a missing one as undefined ("expected string, received undefined"): said instead as given
 * more than once, or required.
 */
function queryFieldErrors(
  issues: readonly z.core.$ZodIssue[],
  given: Record<string, string[]>,
): FieldError[] {
  const said = new Set<string>();
  return issues.flatMap((issue) => {
    const name = issue.path.length === 1 ? String(issue.path[0]) : undefined;
    if (issue.code === 'unrecognized_keys' || name === undefined) {
      return fieldErrors([issue], 'query');
    }
    const values = Object.hasOwn(given, name) ? given[name] : undefined;
    const message =
      values === undefined ? 'is required' : values.length > 1 ? 'is given more than once' : null;
    if (message === null) return fieldErrors([issue], 'query');
    if (said.has(name)) return [];
    said.add(name);
    return [{ path: `query.${name}`, message }];
  });
}

/**
 * Every route's request validation ends here. A failure becomes a 400 naming each field; a value
 * that passed its field's schema is then checked against the floor no stored or printed string
 * may go below (NUL, invalid Unicode…, see src/shared/text.ts), in bodies, query strings and path
 * parameters alike, so no route can forget it.
 */
const defaultHook: Hook<unknown, AppEnv, string, unknown> = (result, c) => {
  const target = (result as { target?: string }).target;
  const prefix = target === 'json' ? '' : (target ?? '');
  const malformed = target === 'query' ? malformedQueryParameter(c.req.url) : undefined;
  if (malformed !== undefined) {
    throw validationFailed([
      {
        path: `query.${quotableText(malformed)}`,
        message: 'is not valid percent-encoding of UTF-8 text',
      },
    ]);
  }
  if (!result.success) {
    throw validationFailed(
      target === 'query'
        ? queryFieldErrors(result.error.issues, c.req.queries())
        : fieldErrors(result.error.issues, prefix),
    );
  }
  const unstorable = findUnstorableText(result.data);
  if (unstorable) {
    throw validationFailed([
      {
        path: [prefix, ...unstorable.path.map(String)].filter(Boolean).join('.') || '(body)',
        message: unstorable.message,
      },
    ]);
  }
};

/**
 * The hook of pages a person opens from a link (`createRouter({ lenientQuery: true })`): their
 * query is what a scanning app or a share added (tracking tags, GBK-encoded words), so it is never
 * refused; each page reads only the parameters it knows, each checked on its own (a language from
 * a list, a region code, a coordinate), and ignores what it cannot use.
 */
const lenientQueryHook: Hook<unknown, AppEnv, string, unknown> = (result, c) => {
  if ((result as { target?: string }).target === 'query') return;
  return defaultHook(result, c);
};

/** A router whose request validation failures become problem+json 400s with field errors. */
export function createRouter(options: { lenientQuery?: boolean } = {}): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({
    defaultHook: options.lenientQuery ? lenientQueryHook : defaultHook,
  });
}

/** A country: an officially assigned ISO 3166-1 alpha-2 code, in capitals (`CN`). */
export const countryCode = z
  .string()
  .refine(isCountryCode, 'must be an ISO 3166-1 alpha-2 code')
  .openapi({ pattern: '^[A-Z]{2}$', example: 'CN' });

/** C0 controls other than tab, LF and CR, and DEL: never part of a name or an address. */
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** A text field: trimmed, bounded, no control characters. */
export const textField = (max: number) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .refine((s) => !CONTROL_CHARACTERS.test(s), 'must not contain control characters');

/**
 * The person who signs a change and answers for it (谁签字,谁担责): a certificate's decision maker,
 * or whoever decides a status change; recorded with the change in the audit log.
 */
export const SignatorySchema = z
  .object({ name: textField(100), title: textField(200).optional() })
  .strict()
  .openapi('Signatory');

/** `page` and `pageSize` of every paginated list (spread into a query schema): 100 a page at most. */
export const pageQuery = {
  page: queryInteger(1, 100_000).default(1),
  pageSize: queryInteger(1, 100).default(20),
};

/** A JSON body or response described by `schema`, for route definitions. */
export const json = <T extends z.ZodType>(schema: T) => ({
  content: { 'application/json': { schema } },
});

/** RFC 9457 problem details, as `problemResponse` (src/errors.ts) writes them. */
export const problemSchema = z
  .object({
    type: z.string().openapi({ format: 'uri', example: 'https://certmark.dev/problems/not_found' }),
    title: z.string(),
    status: z.number().int(),
    code: z
      .enum(errorCodes)
      .openapi({ description: 'A stable machine code, one of a closed list' }),
    detail: z.string(),
    instance: z.string().optional().openapi({ description: 'The request path' }),
    requestId: z.string().optional(),
    errors: z
      .array(z.object({ path: z.string(), message: z.string() }))
      .optional()
      .openapi({ description: 'Field errors (`validation_failed` and field-level 422s)' }),
    issuers: z
      .array(z.object({ id: z.string(), name: z.string() }))
      .optional()
      .openapi({ description: '`ambiguous_number`: the issuers holding the number' }),
    resolvedAt: z
      .string()
      .nullable()
      .optional()
      .openapi({ description: '`alert_already_resolved`: when' }),
  })
  .openapi('Problem');

type ResponseConfig = Exclude<RouteConfig['responses'][string], { $ref: string }>;

/** The 4xx and 5xx statuses this service answers with a problem. */
export type ProblemStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 503;

const problemDescriptions: Record<ProblemStatus, string> = {
  400: 'Invalid input: `validation_failed` with `errors`, or `malformed_json`',
  401: 'No API key, or an unknown or revoked one (`unauthorized`)',
  403: 'The API key may not do this (`forbidden`)',
  404: 'Not found',
  409: 'In conflict with the current state',
  413: 'The body is over 1 MiB (`payload_too_large`)',
  415: 'The body is not in a media type this operation takes (`unsupported_media_type`)',
  422: 'Well-formed but not processable',
  429: 'Too many anonymous requests from this address (`rate_limited`); see `Retry-After`',
  503: 'The database is not reachable (`database_unavailable`), the service is still starting (`service_starting`) or stopping (`service_stopping`); see `Retry-After`',
};

const retryAfter = {
  'Retry-After': {
    description: 'Seconds to wait before trying again',
    schema: { type: 'integer' as const, minimum: 1 },
  },
};

/** The `content` of a problem answer (beside another media type, e.g. a page's `text/html`). */
export const problemContent = { 'application/problem+json': { schema: problemSchema } };

/** One problem answer, for a route's `responses`. */
export function problem(description: string, status?: ProblemStatus): ResponseConfig {
  return {
    description,
    ...(status === 429 || status === 503 ? { headers: retryAfter } : {}),
    content: problemContent,
  };
}

/**
 * The 429 of a server-rendered page: a page in the page's language for a browser, a problem for a
 * client that asks for JSON (see src/web/page-refusals.ts).
 */
export const pageRateLimited: Partial<Record<ProblemStatus, ResponseConfig>> = {
  429: {
    description:
      'Too many anonymous requests from this address: a page saying so in the page’s language, or a problem (`rate_limited`) with `Accept: application/json`; see `Retry-After`',
    headers: retryAfter,
    content: { 'text/html': { schema: { type: 'string' } }, ...problemContent },
  },
};

/**
 * Problem answers for a route's `responses`, by status with the usual description, or with the
 * route's own description (say which `code`s it answers).
 *
 * @example
 * responses: {
 *   200: { description: 'The certificate', ...json(CertificateSchema) },
 *   ...problems(404, { 409: 'The certificate is revoked or withdrawn (`status_final`)' }),
 * }
 */
export function problems(
  ...answers: (ProblemStatus | Partial<Record<ProblemStatus, string>>)[]
): Partial<Record<ProblemStatus, ResponseConfig>> {
  const responses: Partial<Record<ProblemStatus, ResponseConfig>> = {};
  for (const answer of answers) {
    if (typeof answer === 'number') {
      responses[answer] = problem(problemDescriptions[answer], answer);
    } else {
      for (const [status, description] of Object.entries(answer)) {
        const code = Number(status) as ProblemStatus;
        responses[code] = problem(description, code);
      }
    }
  }
  return responses;
}

/** `security` of an operation anyone may call (an empty list: no requirement). */
export const publicAccess: { [scheme: string]: string[] }[] = [];
/** `security` of an operation that needs an API key. */
export const bearerSecurity = [{ bearerAuth: [] }];

type OperationConfig = Omit<RouteConfig, 'path'> & {
  path: string;
  /** A stable name for client generators: a verb and the thing, `issueCertificate`. */
  operationId: string;
  /** `publicAccess` or `bearerSecurity`: every operation says which. */
  security: { [scheme: string]: string[] }[];
};

/**
 * The answers the middleware gives on every operation, documented where they apply, so a route
 * lists only its own: 400 where there is input to validate, 401 and 403 where a key is needed (an
 * invalid key counts like none: a public operation answers it), 413 and 415 where there is a body, 400 and
 * 415 where a state-changing operation takes none (./no-body.ts), 429 on public operations (the
 * rate limit is for anonymous callers), 503 everywhere.
 */
function middlewareProblems(
  config: OperationConfig,
): Partial<Record<ProblemStatus, ResponseConfig>> {
  const isPublic = config.security.length === 0;
  const request = config.request ?? {};
  const hasInput = Boolean(request.params ?? request.query ?? request.body ?? request.headers);
  const refusesBodies = takesNoBody(config);
  return {
    ...(hasInput || refusesBodies ? problems(400) : {}),
    // A public operation answers a request with an invalid key as an anonymous one.
    ...(isPublic ? {} : problems(401, 403)),
    ...(request.body ? problems(413, 415) : {}),
    ...(refusesBodies
      ? problems(413, {
          415: 'A body other than JSON was sent: this operation takes none (`unsupported_media_type`)',
        })
      : {}),
    ...(isPublic ? problems(429) : {}),
    ...problems(503),
  };
}

/** Methods that change state: a body sent to one of them that declares none is refused. */
const STATE_CHANGING = new Set(['post', 'put', 'patch', 'delete']);

/** An operation that changes state and reads no body (see ./no-body.ts). */
function takesNoBody(config: OperationConfig): boolean {
  return STATE_CHANGING.has(config.method) && !config.request?.body;
}

function takesOptionalBody(config: OperationConfig): boolean {
  return config.request?.body !== undefined && config.request.body.required !== true;
}

/**
 * An API operation's query parameters are strict, as its JSON bodies are: a filter under a wrong
 * name (`?subjectId=` for `?subject=`, `?status=` where there is none) is a 400 naming it, never
 * the unfiltered answer. An API operation other than a read takes none unless it says so: what a
 * client meant there (`?at=` on a verification, `?dryRun=true` on issuing marks) would otherwise
 * be done without, and no cache is busted by a POST. A read without parameters (a certificate by
 * id, JWKS, tiles) ignores them, for cache-busting. Pages (`/m/…`, `/c/…`) keep ignoring what they
 * do not know: apps that open a scanned or shared link add parameters of their own.
 */
function strictQuery(config: OperationConfig): OperationConfig['request'] {
  const isRead = config.method === 'get' || config.method === 'head';
  const query = config.request?.query ?? (isRead ? undefined : z.object({}));
  const api = config.path.startsWith('/v1/') || config.path.startsWith('/log/');
  if (!api || !(query instanceof z.ZodObject)) return config.request;
  return { ...config.request, query: (isRead ? blankIsNone(query) : query).strict() };
}

/** Optional read parameters whose blank value is refused rather than taken as not given. */
const blankRefused = new WeakSet<z.ZodType>();

/**
 * An optional read parameter whose blank value is refused (400), not taken as not given: where
 * leaving it out does much more than a caller with an unset variable meant (`labels.pdf?to=`
 * printed a million-mark roll).
 */
export function refuseBlank<T extends z.ZodType>(field: T): T {
  blankRefused.add(field);
  return field;
}

/**
 * A read's optional parameter left empty is not given: `?number=&holder=Acme&scheme=` is a
 * search by holder, as an HTML form with blank fields sends it and as SPEC.md writes the
 * registry's and the alerts' parameters. (Not for other operations: `?dryRun=` on an import is
 * no answer to "dry run?".) A required one left empty is still refused.
 */
function blankIsNone(query: z.ZodObject): z.ZodObject {
  const fields = Object.entries(query.shape as Record<string, z.ZodType>).map(([name, field]) => [
    name,
    field.safeParse(undefined).success && !blankRefused.has(field)
      ? z.preprocess((value) => (value === '' ? undefined : value), field)
      : field,
  ]);
  return z.object(Object.fromEntries(fields) as z.ZodRawShape);
}

/**
 * `createRoute` for a documented operation: an `operationId` and `security` are required, and the
 * problem answers of the middleware are added to the route's own `responses`. An API operation's
 * query parameters are strict (`strictQuery`). An operation that changes state and declares no
 * body refuses one (`noBody`, after the route's own middleware, so a caller without the role is
 * told that first); one whose body is optional takes an empty body with a JSON content type as no
 * body (`emptyBodyIsNone`).
 *
 * @example
 * const get = defineRoute({
 *   operationId: 'getCertificate',
 *   method: 'get',
 *   path: '/v1/certificates/{id}',
 *   security: publicAccess,
 *   request: { params: idParam },
 *   responses: { 200: { description: 'The certificate', ...json(Schema) }, ...problems(404) },
 * });
 */
export function defineRoute<P extends string, R extends OperationConfig & { path: P }>(
  config: R,
): ReturnType<typeof createRoute<P, R>> {
  const own = config.middleware === undefined ? [] : [config.middleware].flat();
  return createRoute<P, R>({
    ...config,
    request: strictQuery(config),
    ...(takesNoBody(config) ? { middleware: [...own, noBody()] } : {}),
    ...(takesOptionalBody(config) ? { middleware: [...own, emptyBodyIsNone()] } : {}),
    responses: { ...middlewareProblems(config), ...config.responses },
  });
}

/**
 * `{id}` path parameter: a UUID, in the lower case the database writes it, however it was sent — so
 * what is recorded of a request (its audit entry's subject) is found by that subject later.
 */
export const idParam = z.object({
  id: z
    .string()
    .uuid()
    .openapi({ param: { name: 'id', in: 'path' } })
    .transform((id) => id.toLowerCase()),
});

/** A calendar day, `YYYY-MM-DD`, that exists, from 1900 to 9999 (see src/shared/dates.ts). */
export const isoDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD')
  .refine(isCalendarDay, 'must be a real calendar date')
  .refine((s) => s >= EARLIEST_DATE, `must be between ${EARLIEST_DATE} and ${LATEST_DATE}`);

/** An ISO 8601 instant with its offset, from 1900 to 9999 (see src/shared/dates.ts). */
export const isoInstant = z
  .string()
  .datetime({ offset: true })
  .refine((s) => isSaneInstant(new Date(s)), `must be between ${EARLIEST_DATE} and ${LATEST_DATE}`);

/**
 * A day or an instant (`isoDate` or `isoInstant`). Refused, it says which forms it takes: a bare
 * union would answer only "Invalid input".
 */
export const isoDateOrInstant = z.union([isoDate, isoInstant], {
  error: `must be a day YYYY-MM-DD or an instant with its offset (2024-05-01T08:00:00+08:00), between ${EARLIEST_DATE} and ${LATEST_DATE}`,
});

/**
 * A Unified Social Credit Code (GB 32100-2015) given by a caller, as at issuance: 18 characters of
 * its upper-case alphabet, both check characters enforced (SPEC "Identifiers and validation").
 */
export const usccField = z
  .string()
  .trim()
  .superRefine((code, ctx) => {
    const why = usccProblem(code);
    if (why) ctx.addIssue({ code: 'custom', message: `not a valid USCC: ${why}` });
  });

/** Where a scan or a report was made: a GB/T 2260 region and/or coordinates (WGS 84). */
export const locationSchema = z
  .object({
    region: z
      .string()
      .refine(isValidRegionCode, 'must be a six-digit GB/T 2260 region code')
      .optional(),
    lat: z.number().min(-90).max(90).optional(),
    lon: z.number().min(-180).max(180).optional(),
  })
  .strict()
  .refine((l) => (l.lat === undefined) === (l.lon === undefined), {
    message: 'give lat and lon together',
    path: ['lat'],
  });
