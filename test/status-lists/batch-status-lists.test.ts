import { decodeList } from '@digitalbazaar/vc-bitstring-status-list';
import { sql } from 'drizzle-orm';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, createTestContext, type Client, type TestContext } from '../helpers';
import { createIssuer, issueCertificate, type IssuerFixture } from '../fixtures';
import { issueMarks } from '../marks/mark-helpers';

/**
 * A mark batch's W3C status list: one bit per mark by its position in the batch (issuance order,
 * the order of the export), set when the mark is voided. Decoded with Digital Bazaar's decoder.
 */
describe('mark batch status lists', () => {
  let ctx: TestContext;
  let api: Client;
  let issuer: IssuerFixture;
  let certificateId: string;

  async function setBits(listUrl: string): Promise<number[]> {
    const res = await api.get(new URL(listUrl).pathname);
    expect(res.status).toBe(200);
    const jwks = createLocalJWKSet((await api.get('/.well-known/jwks.json')).body);
    const { payload } = await jwtVerify(res.text, jwks, {
      typ: 'vc+jwt',
      currentDate: ctx.clock.now(),
    });
    const subject = (
      payload as { credentialSubject: { statusPurpose: string; encodedList: string } }
    ).credentialSubject;
    expect(subject.statusPurpose).toBe('revocation');
    const list = await decodeList({ encodedList: subject.encodedList });
    const set: number[] = [];
    for (let i = 0; i < list.length; i += 1) if (list.getStatus(i)) set.push(i);
    return set;
  }

  beforeAll(async () => {
    ctx = await createTestContext();
    api = client(ctx.app);
    issuer = await createIssuer(ctx);
    certificateId = (await issueCertificate(api, issuer.key)).id;
  });
  afterAll(async () => {
    await ctx.services.marks.close();
    await ctx.services.markVerification.close();
    await ctx.close();
  });

  it('voiding a mark sets its bit (its position in the batch), visible as soon as the void answers', async () => {
    const { batchId, marks } = await issueMarks(api, issuer.key, certificateId, { count: 6 });
    const batch = await api.get(`/v1/mark-batches/${batchId}`, issuer.key);
    const listUrl = batch.body.links.statusList as string;
    expect(listUrl).toMatch(/^https:\/\/certmark\.test\/v1\/status-lists\/[0-9a-f-]{36}$/);
    expect(await setBits(listUrl)).toEqual([]);
    for (const position of [4, 1]) {
      const voided = await api.post(
        `/v1/marks/${marks[position]!.serial}/void`,
        { reason: 'destroyed' },
        issuer.key,
      );
      expect(voided.status).toBe(200);
    }
    expect(await setBits(listUrl)).toEqual([1, 4]);
    const list = decodeJwt((await api.get(new URL(listUrl).pathname)).text) as any;
    expect(list.issuer).toBe(`https://certmark.test/v1/issuers/${issuer.id}`);
    expect((await decodeList({ encodedList: list.credentialSubject.encodedList })).length).toBe(
      131_072,
    );
  });

  it('a batch issued before status lists gets its list at start, with its voided marks set', async () => {
    const { batchId, marks } = await issueMarks(api, issuer.key, certificateId, { count: 3 });
    expect(
      (await api.post(`/v1/marks/${marks[2]!.serial}/void`, { reason: 'lost' }, issuer.key)).status,
    ).toBe(200);
    await ctx.handle.db.execute(sql`DELETE FROM status_lists WHERE batch_id = ${batchId}`);
    expect(
      (await api.get(`/v1/mark-batches/${batchId}`, issuer.key)).body.links,
    ).not.toHaveProperty('statusList');
    expect(await ctx.services.marks.giveBatchesStatusLists()).toBe(1);
    expect(await ctx.services.marks.giveBatchesStatusLists()).toBe(0);
    const listUrl = (await api.get(`/v1/mark-batches/${batchId}`, issuer.key)).body.links
      .statusList as string;
    expect(await setBits(listUrl)).toEqual([2]);
    // A void of such a batch before start gave it a list gives it one on the spot.
    await ctx.handle.db.execute(sql`DELETE FROM status_lists WHERE batch_id = ${batchId}`);
    expect(
      (await api.post(`/v1/marks/${marks[0]!.serial}/void`, { reason: 'lost' }, issuer.key)).status,
    ).toBe(200);
    const again = (await api.get(`/v1/mark-batches/${batchId}`, issuer.key)).body.links
      .statusList as string;
    expect(await setBits(again)).toEqual([0, 2]);
  });
});
