import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app';
import { fixedClock } from '../../src/clock';
import { loadConfig } from '../../src/config';
import type { Database } from '../../src/db/client';
import { errorStatus } from '../../src/errors';
import { TEST_NOW } from '../helpers';

interface Operation {
  operationId?: string;
  description?: string;
  security?: Record<string, string[]>[];
  responses: Record<
    string,
    { description?: string; content?: Record<string, { schema?: { $ref?: string } }> }
  >;
}
interface Document {
  servers?: { url: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: {
    schemas: Record<string, { properties: Record<string, { enum?: string[] }> }>;
    securitySchemes: Record<string, unknown>;
  };
}

/**
 * The OpenAPI document is the contract client generators read (Redocly's recommended rules run on
 * it in `npm run check`); these are the certmark rules on top: every operation named and secured,
 * every refusal a problem with the closed list of codes, every route described.
 */
describe('OpenAPI document', () => {
  let app: App;
  let doc: Document;
  const operations: [string, string, Operation][] = [];

  beforeAll(async () => {
    // Describing the routes needs no database: nothing here may touch it.
    app = createApp({
      db: {} as Database,
      config: loadConfig({ PUBLIC_BASE_URL: 'https://certmark.example.org' }),
      keys: { kek: new Uint8Array(randomBytes(32)), platformSeed: new Uint8Array(randomBytes(32)) },
      clock: fixedClock(TEST_NOW),
    });
    const res = await app.request('/openapi.json');
    expect(res.status).toBe(200);
    doc = (await res.json()) as Document;
    for (const [path, methods] of Object.entries(doc.paths))
      for (const [method, operation] of Object.entries(methods))
        operations.push([method, path, operation]);
  });

  it('names its server from PUBLIC_BASE_URL', () => {
    expect(doc.servers).toEqual([{ url: 'https://certmark.example.org' }]);
  });

  it('gives every operation a unique operationId and a security requirement', () => {
    expect(operations.length).toBeGreaterThan(40);
    const ids = operations.map(([method, path, op]) => {
      expect(op.operationId, `${method} ${path}`).toMatch(/^[a-z][A-Za-z]+$/);
      expect(Array.isArray(op.security), `${method} ${path} security`).toBe(true);
      for (const requirement of op.security ?? [])
        for (const scheme of Object.keys(requirement))
          expect(doc.components.securitySchemes).toHaveProperty(scheme);
      return op.operationId;
    });
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('describes every 4xx as a problem (a page may refuse with a page)', () => {
    for (const [method, path, op] of operations) {
      // A page (or a page's form) answers with pages, its refusals too.
      const isPage = Object.values(op.responses).some((r) => r.content?.['text/html']);
      for (const [status, response] of Object.entries(op.responses)) {
        if (!status.startsWith('4')) continue;
        const where = `${method} ${path} ${status}`;
        const content = response.content ?? {};
        const problem = content['application/problem+json'];
        if (isPage && !problem) {
          expect(Object.keys(content), where).toEqual(['text/html']);
          continue;
        }
        expect(problem?.schema?.$ref, where).toBe('#/components/schemas/Problem');
      }
    }
  });

  it('states the body limits: 1 MiB everywhere, the import’s own (IMPORT_MAX_MIB) on the import', async () => {
    const operation = (id: string) => operations.find(([, , op]) => op.operationId === id)![2];
    const issue = operation('issueCertificate');
    expect(issue.responses['413']!.description).toMatch(/1 MiB/);
    const upload = operation('importCertificates');
    expect(upload.description).toContain('up to 256 MiB (IMPORT_MAX_MIB');
    expect(upload.description).toContain('exempt from the 1 MiB limit');
    expect(upload.responses['413']!.description).toMatch(/^A body over 256 MiB \(IMPORT_MAX_MIB/);
    // The upload is safe to send again: its Idempotency-Key and the refusals that come with it.
    expect(
      (upload as { parameters?: { in: string; name: string }[] }).parameters?.find(
        (p) => p.in === 'header' && p.name === 'idempotency-key',
      ),
    ).toBeDefined();
    expect(upload.responses['409']!.description).toContain('idempotency_key_in_use');
    expect(upload.responses['422']!.description).toContain('idempotency_key_reused');
    // The limit as configured, not a constant.
    const configured = createApp({
      db: {} as Database,
      config: loadConfig({ PUBLIC_BASE_URL: 'https://certmark.example.org', IMPORT_MAX_MIB: '64' }),
      keys: { kek: new Uint8Array(randomBytes(32)), platformSeed: new Uint8Array(randomBytes(32)) },
      clock: fixedClock(TEST_NOW),
    });
    const other = (await (await configured.request('/openapi.json')).json()) as Document;
    const imports = other.paths['/v1/certificates/imports']!.post!;
    expect(imports.responses['413']!.description).toMatch(/^A body over 64 MiB \(IMPORT_MAX_MIB/);
  });

  it('lists every error code, and only those, as the problem’s code', () => {
    expect(doc.components.schemas.Problem!.properties.code!.enum!.sort()).toEqual(
      Object.keys(errorStatus).sort(),
    );
  });

  it('documents every route the service answers', () => {
    const documented = new Set(
      operations.map(([method, path]) => `${method.toUpperCase()} ${path}`),
    );
    // `/M/{code}` is the upper-case twin of `/m/{code}` (QR alphanumeric mode), hidden on purpose.
    const undocumented = new Set(['GET /openapi.json', 'GET /M/{code}']);
    const routed = app.routes
      .filter((r) => r.method !== 'ALL')
      // A parameter with a pattern (`:tilePath{.+}`, a tile path holding slashes) is that parameter.
      .map((r) => `${r.method} ${r.path.replaceAll(/:(\w+)(\{[^}]*\})?/g, '{$1}')}`)
      .filter((route) => !undocumented.has(route));
    expect([...new Set(routed)].filter((route) => !documented.has(route))).toEqual([]);
  });
});
