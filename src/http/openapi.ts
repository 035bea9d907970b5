import { OpenAPIHono, z } from '@hono/zod-openapi';
import type { Hook } from '@hono/zod-openapi';
import { validationFailed, type FieldError } from '../errors';
import type { AppEnv } from './env';
import { isValidRegionCode } from '../shared/identifiers';

/** Zod issues → the SPEC's `errors: [{ path, message }]`. */
export function fieldErrors(issues: readonly z.core.$ZodIssue[], prefix = ''): FieldError[] {
  return issues.map((issue) => ({
    path: [prefix, ...issue.path.map(String)].filter(Boolean).join('.') || '(body)',
    message: issue.message,
  }));
}

const defaultHook: Hook<unknown, AppEnv, string, unknown> = (result) => {
  if (!result.success) {
    const target = (result as { target?: string }).target;
    const prefix = target === 'json' ? '' : (target ?? '');
    throw validationFailed(fieldErrors(result.error.issues, prefix));
  }
};

/** A router whose request validation failures become problem+json 400s with field errors. */
export function createRouter(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({ defaultHook });
}

/** `page` and `pageSize` of every paginated list (spread into a query schema): 100 a page at most. */
export const pageQuery = {
  page: z.coerce.number().int().min(1).max(100_000).default(1),
  pageSize: z.coerce.number().int().min(1).max(100).default(20),
};

/** A JSON body or response described by `schema`, for route definitions. */
export const json = <T extends z.ZodType>(schema: T) => ({
  content: { 'application/json': { schema } },
});

/** Reusable OpenAPI response descriptions. */
export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number(),
    code: z.string(),
    detail: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi('Problem');

const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: problemSchema } },
});

export const errorResponses = {
  400: problem('Invalid input'),
  401: problem('No or unknown API key'),
  403: problem('The API key may not do this'),
  404: problem('Not found'),
} as const;

export const bearerSecurity = [{ bearerAuth: [] }];

/** `{id}` path parameter: a UUID. */
export const idParam = z.object({
  id: z
    .string()
    .uuid()
    .openapi({ param: { name: 'id', in: 'path' } }),
});

/** A calendar day, `YYYY-MM-DD`, that exists. */
export const isoDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD')
  .refine((s) => {
    const d = new Date(`${s}T00:00:00Z`);
    return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
  }, 'must be a real calendar date');

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
