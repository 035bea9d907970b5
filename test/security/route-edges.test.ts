import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/db/client';
import {
  client,
  createTestContext,
  listen,
  postChunks,
  type Client,
  type TestContext,
} from '../helpers';
import { createIssuer, createRoleKey, type IssuerFixture } from '../fixtures';

type Answer = Awaited<ReturnType<Client['call']>>;

const expectProblem = (res: Answer, status: number, code: string) => {
  expect(res.status, res.text).toBe(status);
  expect(res.headers.get('content-type')).toContain('application/problem+json');
  expect(res.body).toMatchObject({ status, code });
};

/**
 * The edges of routing: an operation that changes state and takes no body refuses one before it
 * does anything (SPEC: "Nothing is half-written"); a literal path beside a parameter's
 * (`/v1/certificates/imports` beside `/v1/certificates/{id}`) answers 405 with the methods the
 * literal path really has.
 */
describe('route edges', () => {
  let ctx: TestContext;
  let api: Client;
  let issuer: IssuerFixture;

  /** What a refused request must leave as it was. */
  const state = async () => {
    const [row] = rowsOf<Record<string, string>>(
      await ctx.handle.db.execute(sql`SELECT
        (SELECT count(*) FROM signing_keys) AS keys,
        (SELECT count(*) FROM signing_keys WHERE status = 'compromised') AS compromised,
        (SELECT count(*) FROM audit_log) AS audit,
        (SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL) AS revoked,
        (SELECT count(*) FROM subscriptions WHERE deleted_at IS NOT NULL) AS unsubscribed`),
    );
    return row;
  };

  const currentKid = async () => {
    const res = await api.get(`/v1/issuers/${issuer.id}`, ctx.adminKey);
    return res.body.keys.find((k: { status: string }) => k.status === 'current').kid as string;
  };

  beforeAll(async () => {
    ctx = await createTestContext();
    api = client(ctx.app);
    issuer = await createIssuer(ctx);
  });
  afterAll(async () => ctx.close());

  describe('an operation that takes no body', () => {
    /** Bodies no bodiless operation may take, with the answer each gets. */
    const refused: [string, string, number, string][] = [
      ['malformed JSON', '{"a":', 400, 'malformed_json'],
      ['JSON null', 'null', 400, 'malformed_json'],
      ['a JSON array', '[]', 400, 'malformed_json'],
      ['a JSON string', '"leak"', 400, 'malformed_json'],
      ['an object with fields', '{"reason":"leak"}', 400, 'validation_failed'],
    ];

    it('refuses a body on key rotation, and rotates nothing', async () => {
      const before = await state();
      for (const [name, body, status, code] of refused) {
        const res = await api.call('POST', `/v1/issuers/${issuer.id}/keys/rotate`, {
          key: ctx.adminKey,
          body,
        });
        expectProblem(res, status, code);
        expect(res.status, name).toBe(status);
      }
      for (const contentType of ['text/plain', 'application/x-www-form-urlencoded']) {
        const res = await api.call('POST', `/v1/issuers/${issuer.id}/keys/rotate`, {
          key: ctx.adminKey,
          body: '{}',
          headers: { 'content-type': contentType },
        });
        expectProblem(res, 415, 'unsupported_media_type');
      }
      // Bytes without a Content-Type.
      const bare = await ctx.app.request(`/v1/issuers/${issuer.id}/keys/rotate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ctx.adminKey}` },
        body: new TextEncoder().encode('x'),
      });
      expect(bare.status).toBe(415);
      expect(bare.headers.get('content-type')).toContain('application/problem+json');
      expect(await state()).toEqual(before);
    });

    it('still rotates with no body, an empty one or an empty JSON object', async () => {
      const first = await api.call('POST', `/v1/issuers/${issuer.id}/keys/rotate`, {
        key: ctx.adminKey,
      });
      expect(first.status, first.text).toBe(201);
      const empty = await api.call('POST', `/v1/issuers/${issuer.id}/keys/rotate`, {
        key: ctx.adminKey,
        body: '',
        headers: { 'content-type': 'text/plain' },
      });
      expect(empty.status, empty.text).toBe(201);
      const object = await api.call('POST', `/v1/issuers/${issuer.id}/keys/rotate`, {
        key: ctx.adminKey,
        body: '{ }',
      });
      expect(object.status, object.text).toBe(201);
    });

    it('a role that may not rotate is told so first', async () => {
      const customs = await createRoleKey(ctx, 'customs');
      const res = await api.call('POST', `/v1/issuers/${issuer.id}/keys/rotate`, {
        key: customs,
        body: '{"a":',
      });
      expectProblem(res, 403, 'forbidden');
    });

    it('refuses a body on revoking an API key and on deleting a subscription, and keeps both', async () => {
      const created = await api.post(
        '/v1/api-keys',
        { role: 'supervisor', label: 'body test' },
        ctx.adminKey,
      );
      expect(created.status, created.text).toBe(201);
      const subscription = await api.post(
        '/v1/subscriptions',
        { url: 'http://127.0.0.1:9/hook', events: ['certificate.status_changed'] },
        issuer.key,
      );
      expect(subscription.status, subscription.text).toBe(201);
      const before = await state();
      const targets: [string, string][] = [
        [`/v1/api-keys/${created.body.id}`, ctx.adminKey],
        [`/v1/subscriptions/${subscription.body.id}`, issuer.key],
      ];
      for (const [path, key] of targets) {
        for (const [, body, status, code] of refused) {
          expectProblem(await api.call('DELETE', path, { key, body }), status, code);
        }
        expectProblem(
          await api.call('DELETE', path, {
            key,
            body: 'x',
            headers: { 'content-type': 'text/plain' },
          }),
          415,
          'unsupported_media_type',
        );
      }
      expect(await state()).toEqual(before);
      for (const [path, key] of targets) {
        const res = await api.call('DELETE', path, { key, body: '{}' });
        expect(res.status, `${path}: ${res.text}`).toBeLessThan(300);
      }
    });

    it('over real HTTP: Content-Length 0 passes whatever its type; a chunked body is read and judged', async () => {
      const server = await listen(ctx.app);
      const post = (headers: Record<string, string>, chunks: string[]) =>
        postChunks(
          server.port,
          `/v1/issuers/${issuer.id}/keys/rotate`,
          {
            authorization: `Bearer ${ctx.adminKey}`,
            ...headers,
          },
          chunks,
        );
      try {
        const before = await state();
        const chunked = await post({ 'content-type': 'application/json' }, ['{"a"', ':']);
        expect(chunked.status).toBe(400);
        expect(chunked.body.code).toBe('malformed_json');
        const plain = await post({ 'content-type': 'text/plain' }, ['leak']);
        expect(plain.status).toBe(415);
        expect(await state()).toEqual(before);
        const empty = await post({ 'content-type': 'text/plain', 'content-length': '0' }, []);
        expect(empty.status).toBe(201);
        const emptyChunked = await post({ 'content-type': 'application/json' }, []);
        expect(emptyChunked.status).toBe(201);
      } finally {
        await server.close();
      }
    });
  });

  describe('declaring a key compromised', () => {
    const compromise = (kid: string, body?: string, headers?: Record<string, string>) =>
      api.call('POST', `/v1/issuers/${issuer.id}/keys/${kid}/compromise`, {
        key: ctx.adminKey,
        body,
        headers,
      });

    it('refuses a malformed body, unknown fields, a bad reason or another media type, compromising nothing', async () => {
      const kid = await currentKid();
      const before = await state();
      expectProblem(await compromise(kid, '{"a":'), 400, 'malformed_json');
      expectProblem(await compromise(kid, '{"reason":"leak","why":1}'), 400, 'validation_failed');
      expectProblem(await compromise(kid, '{"reason":""}'), 400, 'validation_failed');
      expectProblem(
        await compromise(kid, JSON.stringify({ reason: 'x'.repeat(501) })),
        400,
        'validation_failed',
      );
      expectProblem(
        await compromise(kid, 'leak', { 'content-type': 'text/plain' }),
        415,
        'unsupported_media_type',
      );
      expect(await state()).toEqual(before);
      expect(await currentKid()).toBe(kid);
    });

    it('records the reason given in the audit entry, and null without one', async () => {
      const kid = await currentKid();
      const res = await compromise(kid, JSON.stringify({ reason: 'leak' }));
      expect(res.status, res.text).toBe(200);
      expect(res.body).toMatchObject({ kid, status: 'compromised' });
      const next = await currentKid();
      expect((await compromise(next)).status).toBe(200);
      const changes = rowsOf<{ change: { kid: string; reason: string | null } }>(
        await ctx.handle.db.execute(
          sql`SELECT change FROM audit_log WHERE action = 'key.compromise' ORDER BY id`,
        ),
      ).map((r) => r.change);
      expect(changes.find((c) => c.kid === kid)?.reason).toBe('leak');
      expect(changes.find((c) => c.kid === next)?.reason).toBeNull();
    });

    it('takes an empty body sent as JSON as no body (clients that always send the type)', async () => {
      const kid = await currentKid();
      const res = await compromise(kid, undefined, { 'content-type': 'application/json' });
      expect(res.status, res.text).toBe(200);
      const server = await listen(ctx.app);
      try {
        const next = await currentKid();
        const answer = await fetch(
          `http://127.0.0.1:${server.port}/v1/issuers/${issuer.id}/keys/${next}/compromise`,
          {
            method: 'POST',
            headers: {
              authorization: `Bearer ${ctx.adminKey}`,
              'content-type': 'application/json',
            },
          },
        );
        expect(answer.status, await answer.text()).toBe(200);
      } finally {
        await server.close();
      }
    });

    it('documents the reason in the OpenAPI document', async () => {
      const doc = (await api.get('/openapi.json')).body;
      const operation = doc.paths['/v1/issuers/{id}/keys/{kid}/compromise'].post;
      expect(operation.requestBody.required).toBe(false);
      expect(doc.components.schemas.CompromiseKey).toMatchObject({
        type: 'object',
        properties: { reason: { type: 'string', minLength: 1, maxLength: 500 } },
        additionalProperties: false,
      });
      const rotate = doc.paths['/v1/issuers/{id}/keys/rotate'].post;
      expect(Object.keys(rotate.responses)).toEqual(expect.arrayContaining(['400', '415']));
    });
  });

  describe('a literal path beside a parameter’s', () => {
    it('GET, HEAD, PUT, DELETE on /v1/certificates/imports → 405 with Allow: POST', async () => {
      for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
        const res = await api.call(method, '/v1/certificates/imports', { key: issuer.key });
        expectProblem(res, 405, 'method_not_allowed');
        expect(res.headers.get('allow'), method).toBe('POST');
      }
      const head = await ctx.app.request('/v1/certificates/imports', {
        method: 'HEAD',
        headers: { authorization: `Bearer ${issuer.key}` },
      });
      expect(head.status).toBe(405);
      expect(head.headers.get('allow')).toBe('POST');
    });

    it('a certificate’s sub-resource under imports/ is the imports’: 405 with their methods', async () => {
      for (const [method, path] of [
        ['POST', '/v1/certificates/imports/status'],
        ['POST', '/v1/certificates/imports/marks'],
        ['DELETE', '/v1/certificates/imports/00000000-0000-4000-8000-000000000000'],
      ] as const) {
        const res = await api.call(method, path, { key: issuer.key, body: {} });
        expectProblem(res, 405, 'method_not_allowed');
        expect(res.headers.get('allow'), `${method} ${path}`).toBe('GET, HEAD');
      }
    });

    it('the routes themselves still answer', async () => {
      const missing = '00000000-0000-4000-8000-000000000000';
      expectProblem(await api.get(`/v1/certificates/${missing}`), 404, 'not_found');
      expectProblem(
        await api.get(`/v1/certificates/imports/${missing}`, issuer.key),
        404,
        'not_found',
      );
      const put = await api.call('PUT', `/v1/certificates/${missing}`);
      expectProblem(put, 405, 'method_not_allowed');
      expect(put.headers.get('allow')).toBe('GET, HEAD');
      const upload = await api.call('POST', '/v1/certificates/imports', {
        key: issuer.key,
        body: '',
        headers: { 'content-type': 'text/plain' },
      });
      expectProblem(upload, 415, 'unsupported_media_type');
    });
  });
});
