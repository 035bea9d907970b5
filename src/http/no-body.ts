import { z } from '@hono/zod-openapi';
import { createMiddleware } from 'hono/factory';
import { AppError, validationFailed } from '../errors';
import type { AppEnv } from './env';

/** JSON, or a JSON flavour (RFC 6839 `+json`), with parameters: what the JSON routes take. */
const JSON_MEDIA_TYPE = /^application\/([a-z-.]+\+)?json(;\s*[a-zA-Z0-9-]+=([^;]+))*$/i;

/** The only JSON a bodiless operation takes: an empty object (some clients always send one). */
const NothingToSay = z.object({}).strict();

/**
 * Guards an operation that changes state and declares no body: a body sent to it is refused before
 * anything is done, so that a client that meant to say something (a reason, a flag) learns that it
 * was not heard instead of seeing the change made without it. No body at all, an empty one, or an
 * empty JSON object pass; any other JSON is a 400 (`malformed_json` when it does not parse or is
 * not an object, `validation_failed` naming the fields when it has any), a body of another media
 * type a 415 `unsupported_media_type`. The body is at most 1 MiB here (the app's body limit runs
 * first).
 *
 * `defineRoute` (./openapi.ts) adds it to every such operation; routes need not name it.
 *
 * @example
 * createRoute({ method: 'post', path: '/v1/issuers/{id}/keys/rotate', middleware: [noBody()], … })
 */
export function noBody() {
  return createMiddleware<AppEnv>(async function refuseBody(c, next) {
    if (!mayHaveBody(c.req)) return next();
    const text = await c.req.text();
    if (text === '') return next();
    const contentType = c.req.header('content-type');
    if (!contentType || !JSON_MEDIA_TYPE.test(contentType)) {
      throw new AppError(
        'unsupported_media_type',
        `this operation takes no body; one of type ${contentType ?? '(none)'} was sent`,
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new AppError('malformed_json', 'the body is not valid JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new AppError('malformed_json', 'this operation takes no body, or an empty JSON object');
    }
    const result = NothingToSay.safeParse(parsed);
    if (!result.success) {
      throw validationFailed(
        Object.keys(parsed).map((field) => ({
          path: field,
          message: 'this operation takes no body: not a field it reads',
        })),
      );
    }
    await next();
  });
}

/**
 * For an operation whose body is optional: an empty body is no body, whatever its Content-Type. A
 * client that always sends `Content-Type: application/json` (many do, and fetch sends
 * `Content-Length: 0` with no body) would otherwise get 400 `malformed_json` from the JSON
 * validator for saying nothing. The content type is dropped, so the validator sees no body.
 *
 * @example
 * createRoute({ method: 'post', path: '/v1/alerts/{id}/resolve', middleware: [emptyBodyIsNone()], … })
 */
export function emptyBodyIsNone() {
  return createMiddleware<AppEnv>(async function emptyBodyIsNone(c, next) {
    if (c.req.header('content-type') !== undefined && (await isEmptyBody(c.req))) {
      c.req.raw.headers.delete('content-type');
    }
    await next();
  });
}

interface BodyOf {
  header(name: string): string | undefined;
  raw: Request;
  text(): Promise<string>;
}

/**
 * Whether a request may carry a body: chunked, a Content-Length other than 0, or, with neither
 * declared, a body stream (an in-process request sets no length). No read is made.
 */
export function mayHaveBody(req: Omit<BodyOf, 'text'>): boolean {
  if (req.header('transfer-encoding') !== undefined) return true;
  const declared = req.header('content-length');
  if (declared !== undefined) return Number(declared) !== 0;
  return req.raw.body !== null;
}

/** Whether a request's body is empty: declared so, absent, or read and found so (chunked). */
async function isEmptyBody(req: BodyOf): Promise<boolean> {
  return !mayHaveBody(req) || (await req.text()) === '';
}
