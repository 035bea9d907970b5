import { Writable } from 'node:stream';
import { sql } from 'drizzle-orm';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loggableError } from '../../src/shared/loggable-error';
import { certificateBody, createIssuer, type IssuerFixture } from '../fixtures';
import { client, createTestContext, type Client, type TestContext } from '../helpers';

/**
 * A failed query's error carries everything it was sent: drizzle puts the statement and every
 * parameter in its message, and PostgreSQL quotes values in its own. Here the database refuses
 * writes that carry a full signed credential and a full mark code (a trigger that raises with the
 * whole row in its message), and the log lines of those failures are searched for them.
 */
describe('database errors in the logs', () => {
  const logLines: string[] = [];
  let ctx: TestContext;
  let api: Client;
  let issuer: IssuerFixture;
  let certificate: { id: string; credential: string };
  let markCode: string;

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _encoding, done) {
        logLines.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    });
    // The service's own logger options (src/main.ts): every `err` through loggableError.
    const logger = pino({ level: 'debug', serializers: { err: loggableError } }, sink);
    ctx = await createTestContext({}, { logger });
    api = client(ctx.app);
    issuer = await createIssuer(ctx);
    const issued = await api.post('/v1/certificates', certificateBody(), issuer.key);
    expect(issued.status).toBe(201);
    certificate = issued.body;
    const batch = await api.post(
      `/v1/certificates/${certificate.id}/marks`,
      { count: 1 },
      issuer.key,
    );
    expect(batch.status).toBe(201);
    const exported = await api.get(`/v1/mark-batches/${batch.body.batchId}/marks`, issuer.key);
    markCode = (JSON.parse(exported.text.trim().split('\n')[0]!) as { code: string }).code;

    await ctx.handle.db.execute(sql`
      CREATE FUNCTION refuse_with_the_row() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'refused: %', row_to_json(NEW)::text; END $$`);
    await ctx.handle.db.execute(sql`
      CREATE TRIGGER refuse_certificate_updates BEFORE UPDATE ON certificates
      FOR EACH ROW EXECUTE FUNCTION refuse_with_the_row()`);
    await ctx.handle.db.execute(sql`
      CREATE TRIGGER refuse_reports BEFORE INSERT ON reports
      FOR EACH ROW EXECUTE FUNCTION refuse_with_the_row()`);
  });

  afterAll(async () => {
    await ctx?.close();
  });

  it('a failed query that carried a credential or a mark code is logged by class and SQLSTATE only', async () => {
    // The certificate row (its credential among its columns) is in the statement's parameters
    // and in the error's message.
    const change = await api.post(
      `/v1/certificates/${certificate.id}/status`,
      { status: 'suspended', reason: 'audit', signatory: { name: 'Li Wei' } },
      issuer.key,
    );
    // The mark code a consumer typed is a parameter of the report's INSERT.
    const report = await api.post('/v1/reports', {
      code: markCode,
      description: 'the label peels off',
    });
    for (const answer of [change, report]) {
      expect(answer.status).toBe(500);
      expect(answer.body.code).toBe('internal_error');
      expect(answer.text).not.toContain(certificate.credential);
      expect(answer.text).not.toContain(markCode);
    }

    const failures = logLines
      .map((line) => JSON.parse(line) as { msg?: string; err?: { code?: string } })
      .filter((entry) => entry.msg === 'unhandled error');
    expect(failures).toHaveLength(2);
    for (const failure of failures) expect(failure.err?.code).toBe('P0001');

    const text = logLines.join('\n');
    expect(text).not.toContain(certificate.credential);
    expect(text).not.toContain(certificate.credential.split('.')[2]!);
    expect(text).not.toContain(markCode);
    expect(text).not.toMatch(/Failed query|params:|refused:|update "certificates"|insert into/i);
  });
});
