import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import { z } from '@hono/zod-openapi';
import { Scalar } from '@scalar/hono-api-reference';
import { runtimeFile } from '../shared/runtime-files';
import { createRouter, defineRoute, pageRateLimited, publicAccess } from './openapi';

/** Where the page loads the reference UI from: this service, never a CDN (`cdn` is Scalar's name). */
const SCRIPT_PATH = '/docs/scalar-api-reference.js';

const page = defineRoute({
  operationId: 'getApiReference',
  method: 'get',
  path: '/docs',
  security: publicAccess,
  tags: ['Service'],
  summary: 'This document, interactive (every asset from this service)',
  responses: {
    200: { description: 'The page', content: { 'text/html': { schema: z.string() } } },
    ...pageRateLimited,
  },
});

const script = defineRoute({
  operationId: 'getApiReferenceScript',
  method: 'get',
  path: SCRIPT_PATH,
  security: publicAccess,
  tags: ['Service'],
  summary: 'The reference page’s script (Scalar’s standalone bundle, as installed)',
  responses: {
    200: { description: 'The script', content: { 'text/javascript': { schema: z.string() } } },
  },
});

/**
 * Scalar's standalone bundle: copied to dist/ by `npm run build`; from the sources, the installed
 * `@scalar/api-reference` (a development dependency, so production installs stay lean).
 */
function standaloneBundlePath(): string {
  const built = runtimeFile('scalar-api-reference.js');
  if (built) return built;
  const entry = createRequire(import.meta.url).resolve('@scalar/api-reference');
  return new URL('./browser/standalone.js', `file://${entry}`).pathname;
}

let bundle: Promise<string> | undefined;
function readBundle(): Promise<string> {
  bundle ??= fs.readFile(standaloneBundlePath(), 'utf8').catch((error: unknown) => {
    bundle = undefined;
    throw error;
  });
  return bundle;
}

/**
 * GET /docs, the interactive API reference of `/openapi.json`, and its script. Everything it loads
 * comes from this service, so it works offline and behind a firewall: no CDN script and no web
 * fonts (`withDefaultFonts: false`; the system's fonts are used), no telemetry.
 */
export function apiReferenceRoutes() {
  const reference = Scalar({
    url: '/openapi.json',
    pageTitle: 'certmark API',
    cdn: SCRIPT_PATH,
    withDefaultFonts: false,
    // Every operation listed at once (a reader searches the page with the browser), and nothing
    // that would call Scalar's own services: no telemetry, no AI agent, no MCP generator.
    defaultOpenAllTags: true,
    telemetry: false,
    agent: { disabled: true },
    // Known to the standalone bundle, not yet to the Hono integration's types.
    ...({ mcp: { disabled: true } } as object),
  });
  return (
    createRouter()
      // Scalar's handler is typed for Hono's default Env; it only reads the request and answers HTML.
      .openapi(
        page,
        async (c) =>
          (await reference(
            c as unknown as Parameters<typeof reference>[0],
            async () => {},
          )) as Response,
      )
      .openapi(script, async (c) =>
        c.body(await readBundle(), 200, {
          'content-type': 'text/javascript; charset=utf-8',
          // The bundle changes only with the installed version, i.e. with a new deployment.
          'cache-control': 'public, max-age=3600',
        }),
      )
  );
}
