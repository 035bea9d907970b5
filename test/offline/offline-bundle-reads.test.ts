import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { client, createTestContext, type Client, type TestContext } from '../helpers';
import { createIssuer, issueCertificate, type IssuerFixture } from '../fixtures';
import { issueMarks } from '../marks/mark-helpers';

/**
 * The offline bundle reads the registry one query per kind (issuers, keys, lists, their heads, the
 * bits and keys of lists to sign, the voided marks), not one per issuer or per list: a registry of
 * thousands of batches is one bundle, asked for by every inspector's daily sync.
 */
describe('offline bundle reads', () => {
  let ctx: TestContext;
  let api: Client;
  const issuers: IssuerFixture[] = [];

  /** An issuer with `batches` mark batches, each with one mark voided. */
  async function issuerWithVoidedMarks(batches: number): Promise<IssuerFixture> {
    const issuer = await createIssuer(ctx, { name: `Body ${issuers.length}` });
    issuers.push(issuer);
    const certificate = await issueCertificate(api, issuer.key);
    for (let i = 0; i < batches; i++) {
      const { marks } = await issueMarks(api, issuer.key, certificate.id, { count: 4 });
      const res = await api.post(
        `/v1/marks/${marks[1]!.serial}/void`,
        { reason: 'lost' },
        issuer.key,
      );
      expect(res.status, res.text).toBe(200);
    }
    return issuer;
  }

  /** The statements a bundle sends to PostgreSQL, and the bundle. */
  async function statementsOf(issuerIds?: string[]) {
    const spy = vi.spyOn(pg.Client.prototype, 'query');
    try {
      const bundle = await ctx.services.offlineBundle.bundle(issuerIds);
      const payload = JSON.parse(Buffer.from(bundle.jws.split('.')[1]!, 'base64url').toString());
      return { statements: spy.mock.calls.length, payload };
    } finally {
      spy.mockRestore();
    }
  }

  beforeAll(async () => {
    ctx = await createTestContext();
    api = client(ctx.app);
  });
  afterAll(async () => {
    await ctx.services.marks.close();
    await ctx.close();
  });

  it('sends as many statements for many issuers and batches as for one', async () => {
    await issuerWithVoidedMarks(1);
    // The log's first checkpoint is made on first asking: made here, not in the first bundle.
    expect((await api.get('/log/checkpoint')).status).toBe(200);
    // Signing every list (cold) and then reading them signed (warm), for a small registry…
    const coldSmall = await statementsOf();
    const warmSmall = await statementsOf();
    expect(coldSmall.payload.statusLists).toHaveLength(3);
    expect(coldSmall.payload.voidedMarks).toHaveLength(1);

    // …and for one with four times the issuers and nine times the batch lists.
    for (let i = 0; i < 3; i++) await issuerWithVoidedMarks(3);
    const coldLarge = await statementsOf();
    const warmLarge = await statementsOf();
    expect(coldLarge.payload.statusLists).toHaveLength(4 * 2 + 1 + 9);
    expect(coldLarge.payload.voidedMarks).toHaveLength(10);

    expect(coldLarge.statements).toBe(coldSmall.statements);
    expect(warmLarge.statements).toBe(warmSmall.statements);
    // A warm bundle signs nothing: it reads no bits and no keys.
    expect(warmLarge.statements).toBeLessThan(coldLarge.statements);
  });

  it('narrowed to issuers: as many statements for four issuers as for one', async () => {
    const one = await statementsOf([issuers[1]!.id]);
    const four = await statementsOf(issuers.map((i) => i.id).reverse());
    expect(one.payload.jwks.keys.length).toBeGreaterThan(1);
    expect(four.payload.issuers).toHaveLength(4);
    // Keys issuer after issuer, in the order named.
    expect(
      four.payload.jwks.keys
        .filter((k: { purpose: string }) => k.purpose === 'issuer')
        .map((k: { issuer: string }) => k.issuer),
    ).toEqual(issuers.map((i) => i.id).reverse());
    expect(four.statements).toBe(one.statements);
  });
});
