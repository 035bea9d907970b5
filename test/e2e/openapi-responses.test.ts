import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, createTestContext, type Client, type TestContext } from '../helpers';
import {
  certificateBody,
  createIssuer,
  createRoleKey,
  issueCertificate,
  USCC,
  type IssuerFixture,
} from '../fixtures';

interface Operation {
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}

/**
 * Answers as a client generated from /openapi.json reads them: each body validated, by a JSON
 * Schema 2020-12 validator the service did not write (Ajv), against the schema the document gives
 * for its operation, status and media type. A nullable component written as `allOf` of the
 * component and a nullable object (what a generator made of `.nullable()`) refused every
 * certificate without a manufacturer (an outside probe).
 */
describe('answers conform to the OpenAPI document', () => {
  let ctx: TestContext;
  let api: Client;
  let issuer: IssuerFixture;
  let paths: Record<string, Record<string, Operation>>;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv);

  beforeAll(async () => {
    ctx = await createTestContext();
    api = client(ctx.app);
    issuer = await createIssuer(ctx);
    const doc = (await api.get('/openapi.json')).body;
    // The document's own references, resolved against it as one schema.
    const rebased = JSON.parse(
      JSON.stringify(doc).replaceAll('"#/components/', '"openapi.json#/components/'),
    );
    ajv.addSchema({ $id: 'openapi.json', components: rebased.components });
    paths = rebased.paths;
  });
  afterAll(async () => ctx.close());

  const validatorOf = (method: string, path: string, status: number): ValidateFunction => {
    const operation = paths[path]?.[method];
    const response = operation?.responses[String(status)];
    const content = response?.content ?? {};
    const schema = (content['application/json'] ?? content['application/problem+json'])?.schema;
    expect(schema, `${method} ${path} ${status} is documented`).toBeDefined();
    return ajv.compile(schema as object);
  };

  const conforms = (method: string, path: string, res: { status: number; body: unknown }) => {
    const validate = validatorOf(method, path, res.status);
    const valid = validate(res.body);
    expect(validate.errors ?? [], `${method} ${path} ${res.status}`).toEqual([]);
    expect(valid).toBe(true);
  };

  it('a certificate without a manufacturer, as issued, read, searched and verified', async () => {
    const body = {
      holder: { name: 'Acme GmbH', country: 'DE' },
      manufacturer: undefined,
      factories: [],
      scheme: 'ISO9001',
      scope: [{ product: 'Design of machine tools' }],
    };
    const issued = await api.post('/v1/certificates', certificateBody(body), issuer.key);
    expect(issued.status, issued.text).toBe(201);
    expect(issued.body.manufacturer).toBeNull();
    conforms('post', '/v1/certificates', issued);
    conforms('get', '/v1/certificates/{id}', await api.get(`/v1/certificates/${issued.body.id}`));
    conforms(
      'get',
      '/v1/registry/certificates',
      await api.get(`/v1/registry/certificates?number=${issued.body.number}`),
    );
    conforms(
      'post',
      '/v1/verify/certificate',
      await api.post('/v1/verify/certificate', { number: issued.body.number }),
    );
  });

  it('a certificate with everything, its marks verified, and refusals as problems', async () => {
    const full = await issueCertificate(api, issuer.key);
    conforms(
      'post',
      '/v1/verify/certificate',
      await api.post('/v1/verify/certificate', {
        credential: full.credential,
        presenter: { uscc: USCC.other },
      }),
    );
    const batch = await api.post(`/v1/certificates/${full.id}/marks`, { count: 2 }, issuer.key);
    expect(batch.status, batch.text).toBe(201);
    conforms('post', '/v1/certificates/{id}/marks', batch);
    const void_ = await api.post('/v1/marks/1234567890123456/void', { reason: 'x' }, issuer.key);
    expect(void_.status).toBe(422);
    conforms('post', '/v1/marks/{serial}/void', void_);
    conforms('post', '/v1/verify/mark', await api.post('/v1/verify/mark', { code: 'NOT-A-MARK' }));
    const supervisor = await createRoleKey(ctx, 'supervisor');
    conforms('get', '/v1/alerts', await api.get('/v1/alerts', supervisor));
    conforms(
      'post',
      '/v1/verify/certificate',
      await api.post('/v1/verify/certificate', { number: 'x'.repeat(10_000) }),
    );
  });
});
