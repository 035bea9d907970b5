import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificateBody, createIssuer, issueCertificate, type IssuerFixture } from '../fixtures';
import { client, createTestContext, type Client, type TestContext } from '../helpers';

/**
 * An issuance that meets an issuer's suspension (or a key's compromise) in flight: a change of the
 * issuer holds its row for update; an issuance reads the row under a share lock, so it waits for
 * the change and then sees it. Read without a lock, an issuance answered 201 after the
 * suspension's 200, its certificate's suspension bit 0 for good, and one that met a compromise
 * kept a credential of the compromised key that nothing re-signed (an outside probe, two
 * instances: 112 of 256 certificates and 20 credentials).
 */
describe('issuing while the issuer changes', () => {
  let ctx: TestContext;
  let api: Client;
  let issuer: IssuerFixture;
  let official: pg.Client;

  beforeAll(async () => {
    ctx = await createTestContext();
    api = client(ctx.app);
    issuer = await createIssuer(ctx);
    official = new pg.Client({ connectionString: ctx.databaseUrl });
    await official.connect();
  });
  afterAll(async () => {
    await official.end();
    await ctx.close();
  });

  /**
   * Holds the rows a change in flight holds (`locks`, in the official's transaction), sends
   * `request`, checks it waits rather than going ahead under the change, then makes the change
   * (`change`) and commits: the request's answer.
   */
  async function whileChanging(
    locks: [text: string, id: string][],
    request: () => Promise<Awaited<ReturnType<Client['post']>>>,
    change: [text: string, id: string],
  ) {
    await official.query('BEGIN');
    for (const [text, id] of locks) await official.query(text, [id]);
    let answered = false;
    const sent = request().finally(() => {
      answered = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    // It waits for the change rather than going ahead under it.
    expect(answered).toBe(false);
    await official.query(change[0], [change[1]]);
    await official.query('COMMIT');
    return sent;
  }

  it('waits for a suspension in flight, then refuses', async () => {
    // The suspension's transaction, as IssuersService.setStatus holds it: the row, for update.
    const answer = await whileChanging(
      [['SELECT id FROM issuers WHERE id = $1 FOR NO KEY UPDATE', issuer.id]],
      () => api.post('/v1/certificates', certificateBody(), issuer.key),
      [
        `UPDATE issuers SET status = 'suspended', status_changed_at = now() WHERE id = $1`,
        issuer.id,
      ],
    );
    expect(answer.status, answer.text).toBe(403);
    expect(answer.body.code).toBe('issuer_suspended');
  });

  it('orders no mark batch across a revocation of its certificate in flight', async () => {
    const other = await createIssuer(ctx, { name: 'Jiangsu Marks Certification Co.' });
    const certificate = await issueCertificate(api, other.key);
    // The revocation's transaction, as a status change holds it: the issuer shared, the
    // certificate's row for update.
    const answer = await whileChanging(
      [
        ['SELECT id FROM issuers WHERE id = $1 FOR SHARE', other.id],
        ['SELECT id FROM certificates WHERE id = $1 FOR UPDATE', certificate.id],
      ],
      () => api.post(`/v1/certificates/${certificate.id}/marks`, { count: 10 }, other.key),
      [
        `UPDATE certificates SET status = 'revoked', status_changed_at = now() WHERE id = $1`,
        certificate.id,
      ],
    );
    expect(answer.status, answer.text).toBe(409);
    expect(answer.body.code).toBe('certificate_not_valid');
  });
});
