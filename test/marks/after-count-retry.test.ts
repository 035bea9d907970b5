import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveMarkSerialKey, MarkSerialCipher } from '../../src/crypto/mark-serial-cipher';
import type { Database } from '../../src/db/client';
import { MarkVerificationService } from '../../src/verification/mark-verification.service';
import { client, createTestContext, type TestContext } from '../helpers';
import { createIssuer, issueCertificate } from '../fixtures';
import { issueMarks, type IssuedMark } from './mark-helpers';

/**
 * The database, except that once armed its next `failures` query-builder reads fail as on a reset
 * connection (the counting statement is not one of them: it runs on the driver directly).
 */
function flakyDatabase(db: Database): { db: Database; failNext(n: number): void; reads(): number } {
  let failures = 0;
  let reads = 0;
  const flaky = new Proxy(db, {
    get(target, property, receiver) {
      if (property !== 'select') return Reflect.get(target, property, receiver);
      return (...args: unknown[]) => {
        reads += 1;
        if (failures > 0) {
          failures -= 1;
          throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
        }
        return (target.select as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { db: flaky, failNext: (n) => void (failures = n), reads: () => reads };
}

/**
 * A scan is counted first; a certificate (or batch) the service does not hold yet is read after.
 * A fault in that read must not fail the answer when the database is back at once (a reset
 * connection): the client's retry of a 503 would count the scan a second time.
 */
describe('reads after a scan is counted', () => {
  let ctx: TestContext;
  let marks: IssuedMark[];
  /** A mark of another batch, which the service does not hold yet. */
  let ofAnotherBatch: IssuedMark;
  let certificateId: string;
  let flaky: ReturnType<typeof flakyDatabase>;
  let service: MarkVerificationService;
  const verify = (mark: IssuedMark) =>
    service.verifyMark({ code: mark.url }, { role: null, channel: 'api' });

  /** A new row version of the certificate: the next scan reads it again, after its count. */
  async function touchCertificate(): Promise<void> {
    await ctx.handle.db.execute(
      sql`UPDATE certificates SET number = number WHERE id = ${certificateId}::uuid`,
    );
  }

  beforeAll(async () => {
    ctx = await createTestContext();
    const api = client(ctx.app);
    const issuer = await createIssuer(ctx);
    const certificate = await issueCertificate(api, issuer.key);
    certificateId = certificate.id;
    ({ marks } = await issueMarks(api, issuer.key, certificate.id, { count: 4 }));
    ofAnotherBatch = (await issueMarks(api, issuer.key, certificate.id, { count: 1 })).marks[0]!;
    flaky = flakyDatabase(ctx.handle.db);
    service = new MarkVerificationService({
      db: flaky.db,
      clock: ctx.clock,
      alerts: { raise: () => Promise.resolve() },
      clone: ctx.config.clone,
      serials: new MarkSerialCipher(deriveMarkSerialKey(ctx.keys.kek)),
    });
    // The service now holds the keys, the batch and the certificate.
    expect((await verify(marks[0]!)).verdict).toBe('authentic');
  });
  afterAll(() => ctx.close());

  it('are tried again, so the scan is answered and counted once', async () => {
    await touchCertificate();
    flaky.failNext(2);
    const before = flaky.reads();
    const answer = await verify(marks[1]!);
    expect(answer.verdict).toBe('authentic');
    expect(answer.mark?.scanCount).toBe(1);
    // The certificate's read failed twice, then succeeded.
    expect(flaky.reads() - before).toBe(3);
  });

  it('read a batch the service does not hold yet again too', async () => {
    flaky.failNext(2);
    const before = flaky.reads();
    const answer = await verify(ofAnotherBatch);
    expect(answer.verdict).toBe('authentic');
    expect(answer.mark?.scanCount).toBe(1);
    // The batch's read failed twice, then succeeded; the certificate was held.
    expect(flaky.reads() - before).toBe(3);
  });

  it('wait out an outage of a few seconds: the answer comes when the database is back', async () => {
    await touchCertificate();
    flaky.failNext(Number.POSITIVE_INFINITY);
    const started = performance.now();
    // A database that refuses connections for three seconds (a maintenance window, a failover).
    const back = setTimeout(() => flaky.failNext(0), 3_000);
    try {
      const answer = await verify(marks[2]!);
      expect(answer.verdict).toBe('authentic');
      expect(answer.mark?.scanCount).toBe(1);
      expect(performance.now() - started).toBeGreaterThanOrEqual(2_990);
    } finally {
      clearTimeout(back);
      flaky.failNext(0);
    }
  });

  it('fail the answer when the database stays away past the retries', async () => {
    // The wait above let the key ring's refresh come due: it reads before counting, so it goes
    // first, while the database is there.
    await verify(marks[0]!);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await touchCertificate();
    flaky.failNext(Number.POSITIVE_INFINITY);
    const before = flaky.reads();
    const started = performance.now();
    await expect(verify(marks[3]!)).rejects.toMatchObject({ code: 'ECONNRESET' });
    flaky.failNext(0);
    // Nine tries, 50 + 200 + 500 + 1,000 + 1,000 + 1,500 + 1,500 + 2,000 ms apart.
    expect(flaky.reads() - before).toBe(9);
    expect(performance.now() - started).toBeGreaterThanOrEqual(7_700);
  }, 20_000);
});
