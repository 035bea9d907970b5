import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockCertificate } from '../../src/certificates/certificates.queries';
import { lockIssuer } from '../../src/issuers/issuers.queries';
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

  /** Issues without pause from `clients` loops until each is refused; `during` runs meanwhile. */
  async function whileIssuing<T>(
    clients: number,
    fixture: IssuerFixture,
    during: () => Promise<T>,
  ) {
    const answers: { status: number; at: number }[] = [];
    let running = true;
    const loops = Array.from({ length: clients }, async () => {
      while (running) {
        const { status } = await api.post('/v1/certificates', certificateBody(), fixture.key);
        answers.push({ status, at: performance.now() });
        if (status !== 201) return;
      }
    });
    // Until the loops overlap: some issuances answered.
    while (answers.length < clients * 2) await new Promise((resolve) => setTimeout(resolve, 5));
    const started = performance.now();
    const result = await during();
    const tookMs = performance.now() - started;
    const answeredAt = performance.now();
    running = false;
    await Promise.all(loops);
    return { result, tookMs, answeredAt, answers };
  }

  it('lets a suspension through a stream of issuances: it waits only for those already inside', async () => {
    // Issuance reads its issuer under a shared lock. Row locks alone let each new FOR SHARE join
    // the holders while the suspension's FOR NO KEY UPDATE waited, so it waited until the
    // statement timeout (15 s) and failed with 503 while issuance went on (outside probe).
    const busy = await createIssuer(ctx, { name: 'Zhejiang Bulk Certification Co.' });
    const { result, tookMs, answeredAt, answers } = await whileIssuing(6, busy, () =>
      api.post(
        `/v1/issuers/${busy.id}/status`,
        { status: 'suspended', reason: 'CNCA decision' },
        ctx.adminKey,
      ),
    );
    expect(result.status, result.text).toBe(200);
    // The issuances already inside finish first (a few hundred ms here; the bound leaves room for
    // a loaded machine, well below the statement timeout that used to end the wait).
    expect(tookMs).toBeLessThan(10_000);
    // Nothing was issued after the suspension was answered.
    const late = answers.filter((a) => a.at > answeredAt);
    expect(late.every((a) => a.status === 403)).toBe(true);
    expect(answers.filter((a) => a.status === 201).length).toBeGreaterThan(6);
  });

  it('queues a reader that comes while a change waits behind the change (issuers and certificates)', async () => {
    // What the suspension above relies on, shown step by step for both records: a reader holds a
    // certificate (a mark batch, a verification at a past moment); a status change waits for it;
    // a second reader then comes. With row locks alone, the second was let in at once, beside
    // the first, and a stream of them kept the change waiting.
    const issuer = await createIssuer(ctx, { name: 'Anhui Turns Certification Co.' });
    const certificate = await issueCertificate(api, issuer.key);
    const events: string[] = [];
    const waitingLocks = async () => {
      const { rows } = await official.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted',
      );
      return rows[0]!.n;
    };
    const until = async (condition: () => Promise<boolean>) => {
      for (let i = 0; i < 500 && !(await condition()); i++)
        await new Promise((resolve) => setTimeout(resolve, 10));
    };
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const first = ctx.handle.db.transaction(async (tx) => {
      await lockIssuer(tx, issuer.id, 'read');
      await lockCertificate(tx, certificate.id, 'read');
      events.push('first reader in');
      await released;
    });
    await until(async () => events.length === 1);
    const change = ctx.handle.db.transaction(async (tx) => {
      await lockIssuer(tx, issuer.id, 'read');
      await lockCertificate(tx, certificate.id, 'change');
      events.push('change in');
    });
    await until(async () => (await waitingLocks()) === 1);
    const second = ctx.handle.db.transaction(async (tx) => {
      await lockIssuer(tx, issuer.id, 'read');
      await lockCertificate(tx, certificate.id, 'read');
      events.push('second reader in');
    });
    await until(async () => (await waitingLocks()) === 2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(events).toEqual(['first reader in']);
    release();
    await Promise.all([first, change, second]);
    expect(events).toEqual(['first reader in', 'change in', 'second reader in']);
  });
});
