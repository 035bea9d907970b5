import { sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, createServices } from '../../src/app';
import { openDatabase, rowsOf, type DatabaseHandle } from '../../src/db/client';
import {
  client,
  createTestContext,
  listen,
  type Client,
  type Listening,
  type TestContext,
} from '../helpers';
import {
  createIssuer,
  createRoleKey,
  issueCertificate,
  USCC,
  type IssuerFixture,
} from '../fixtures';

/**
 * SPEC "Customs": exact under concurrency, across several service instances sharing one database.
 * Two instances (two pools, two HTTP servers) on the same test database; requests go over real
 * HTTP, alternating between them.
 */

interface Answer {
  status: number;
  body: any;
}

async function post(base: string, path: string, body: unknown, key: string): Promise<Answer> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** Runs `count` tasks with at most `inFlight` at a time; results in task order. */
async function runBounded<T>(
  count: number,
  inFlight: number,
  task: (i: number) => Promise<T>,
): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await task(i);
      }
    }),
  );
  return results;
}

let declarationCounter = 0;
const nextDeclarationNo = () => `5316202600${String(10_000_000 + ++declarationCounter).slice(-8)}`;

const codes = (a: Answer) => (a.body.reasons as { code: string }[]).map((r) => r.code);

describe('customs: exact under concurrency, two instances', () => {
  let ctx: TestContext;
  let api: Client;
  let second: DatabaseHandle;
  let instances: Listening[];
  let authority: IssuerFixture;
  let customsKey: string;

  const instanceFor = (i: number) => instances[i % instances.length]!.url;

  /**
   * One declaration, sent as a customs system would: a 503 (a starved machine can make the breaker
   * doubt a slow database) is sent again after a moment, which a declaration number makes safe.
   */
  const consume = async (i: number, body: Record<string, unknown>) => {
    for (let attempt = 1; ; attempt++) {
      const answer = await post(instanceFor(i), '/v1/customs/exemptions/consume', body, customsKey);
      if (answer.status !== 503 || attempt === 5) return answer;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  };

  const issueExemption = (quantity: number, issuer = authority) =>
    issueCertificate(api, issuer.key, {
      scheme: 'CCC_EXEMPTION',
      quantity,
      purpose: 'repair_parts',
    });

  const count = async (query: ReturnType<typeof sql>) =>
    Number(rowsOf<{ n: string | number }>(await ctx.handle.db.execute(query))[0]!.n);

  beforeAll(async () => {
    ctx = await createTestContext();
    api = client(ctx.app);
    second = await openDatabase({ databaseUrl: ctx.databaseUrl, dataDir: '', maxConnections: 10 });
    const deps = {
      db: second.db,
      config: ctx.config,
      keys: ctx.keys,
      clock: ctx.clock,
      ping: second.ping,
    };
    instances = [await listen(ctx.app), await listen(createApp(deps, createServices(deps)))];
    authority = await createIssuer(ctx, {
      name: 'Shenzhen Administration for Market Regulation',
      kind: 'exemption_authority',
      schemes: ['CCC_EXEMPTION'],
    });
    customsKey = await createRoleKey(ctx, 'customs');
  });
  afterAll(async () => {
    for (const instance of instances ?? []) await instance.close();
    await second?.close();
    await ctx.close();
  });

  it('1,000 concurrent consume(1) at quantity 100: exactly 100 succeed, 900 exhausted', async () => {
    const exemption = await issueExemption(100);
    const started = performance.now();
    const answers = await runBounded(1000, 50, (i) =>
      consume(i, {
        number: exemption.number,
        declarationNo: nextDeclarationNo(),
        quantity: 1,
        importerUscc: USCC.holder,
      }),
    );
    const seconds = (performance.now() - started) / 1000;

    const serverErrors = answers.filter((a) => a.status >= 500).length;
    const consumed = answers.filter((a) => a.status === 200 && a.body.consumption.consumed);
    const exhausted = answers.filter(
      (a) =>
        a.status === 200 &&
        !a.body.consumption.consumed &&
        codes(a).join() === 'QUANTITY_EXHAUSTED',
    );
    const remaining = (await api.get(`/v1/certificates/${exemption.id}`)).body.remaining;
    const ledgerConsumed = await count(
      sql`SELECT count(*) AS n FROM customs_consumptions WHERE certificate_id = ${exemption.id} AND status = 'consumed'`,
    );
    const ledgerRefused = await count(
      sql`SELECT count(*) AS n FROM customs_consumptions WHERE certificate_id = ${exemption.id} AND status = 'refused'`,
    );
    const audited = await count(
      sql`SELECT count(*) AS n FROM audit_log WHERE subject_id = ${exemption.id} AND action = 'customs.consume'`,
    );
    console.log(
      `customs concurrency: ${consumed.length} consumed, ${exhausted.length} exhausted, remaining ${remaining}, ` +
        `${ledgerConsumed} ledger rows (+${ledgerRefused} refused), ${serverErrors} 5xx, ${seconds.toFixed(2)} s ` +
        `(${Math.round(1000 / seconds)} req/s, 50 in flight, 2 instances)`,
    );

    expect(serverErrors).toBe(0);
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(consumed).toHaveLength(100);
    expect(exhausted).toHaveLength(900);
    expect(remaining).toBe(0);
    expect(ledgerConsumed).toBe(100);
    expect(ledgerRefused).toBe(900);
    expect(audited).toBe(100);
    // Each success saw a distinct remaining value: 99 … 0, each unit deducted exactly once.
    expect(new Set(consumed.map((a) => a.body.consumption.remaining))).toEqual(
      new Set(Array.from({ length: 100 }, (_, i) => i)),
    );
    // Both instances did real work.
    expect(new Set(consumed.map((a) => answers.indexOf(a) % 2)).size).toBe(2);
  }, 60_000);

  it('mixed quantities: what was deducted plus what remains is the quantity, never more', async () => {
    const exemption = await issueExemption(300);
    const quantities = Array.from({ length: 200 }, (_, i) => 1 + ((i * 7) % 9));
    const answers = await runBounded(quantities.length, 40, (i) =>
      consume(i, {
        number: exemption.number,
        declarationNo: nextDeclarationNo(),
        quantity: quantities[i],
        importerUscc: USCC.holder,
      }),
    );
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const deducted = answers
      .filter((a) => a.body.consumption.consumed)
      .reduce((sum, a) => sum + a.body.consumption.quantity, 0);
    const remaining = (await api.get(`/v1/certificates/${exemption.id}`)).body.remaining as number;
    expect(deducted + remaining).toBe(300);
    // A refusal saw less than it asked for, and what remains only ever shrinks.
    for (const a of answers.filter((x) => !x.body.consumption.consumed)) {
      expect(codes(a)).toEqual(['QUANTITY_EXHAUSTED']);
      expect(a.body.consumption.quantity).toBeGreaterThan(remaining);
    }
    const ledgerSum = await count(
      sql`SELECT coalesce(sum(quantity), 0) AS n FROM customs_consumptions WHERE certificate_id = ${exemption.id} AND status = 'consumed'`,
    );
    expect(ledgerSum).toBe(deducted);
  }, 60_000);

  it('no consume succeeds after a revocation commits', async () => {
    const quantity = 100_000;
    const exemption = await issueExemption(quantity);
    let revocation: Answer | undefined;
    const sentAfterRevocation = new Set<number>();
    let answered = 0;
    const answers = await runBounded(400, 40, async (i) => {
      if (revocation) sentAfterRevocation.add(i);
      const answer = await consume(i, {
        number: exemption.number,
        declarationNo: nextDeclarationNo(),
        quantity: 1,
        importerUscc: USCC.holder,
      });
      // Revoke while consumes are in flight on both instances.
      if (++answered === 80) {
        revocation = await post(
          instanceFor(i + 1),
          `/v1/certificates/${exemption.id}/status`,
          { status: 'revoked', reason: 'exemption obtained by fraud', signatory: { name: '王五' } },
          authority.key,
        );
      }
      return answer;
    });
    expect(revocation?.status).toBe(200);
    expect(answers.every((a) => a.status === 200)).toBe(true);

    const consumed = answers.filter((a) => a.body.consumption.consumed).length;
    const revoked = answers.filter((a) => codes(a).includes('REVOKED')).length;
    expect(consumed).toBeGreaterThan(0);
    expect(revoked).toBeGreaterThan(0);
    expect(consumed + revoked).toBe(400);
    for (const i of sentAfterRevocation) expect(codes(answers[i]!)).toEqual(['REVOKED']);

    // What remained when the revocation committed is what remains now.
    const remaining = (await api.get(`/v1/certificates/${exemption.id}`)).body.remaining;
    expect(remaining).toBe(revocation!.body.remaining);
    expect(remaining).toBe(quantity - consumed);
    // The audit log's order is commit order: every deduction's entry precedes the revocation's.
    await ctx.services.audit.sync();
    const [order] = rowsOf<{ revoked_at_seq: string; last_consume_seq: string; consumes: string }>(
      await ctx.handle.db.execute(sql`
        SELECT
          (SELECT seq FROM audit_log JOIN audit_positions ON entry_id = id WHERE subject_id = ${exemption.id} AND action = 'certificate.status') AS revoked_at_seq,
          (SELECT max(seq) FROM audit_log JOIN audit_positions ON entry_id = id WHERE subject_id = ${exemption.id} AND action = 'customs.consume') AS last_consume_seq,
          (SELECT count(*) FROM audit_log WHERE subject_id = ${exemption.id} AND action = 'customs.consume') AS consumes`),
    );
    expect(Number(order!.last_consume_seq)).toBeLessThan(Number(order!.revoked_at_seq));
    expect(Number(order!.consumes)).toBe(consumed);
    const ledgerConsumed = await count(
      sql`SELECT count(*) AS n FROM customs_consumptions WHERE certificate_id = ${exemption.id} AND status = 'consumed'`,
    );
    expect(ledgerConsumed).toBe(consumed);
  }, 60_000);

  it('no consume succeeds after the exemption authority is suspended', async () => {
    const authority2 = await createIssuer(ctx, {
      name: 'Fuzhou Administration for Market Regulation',
      kind: 'exemption_authority',
      schemes: ['CCC_EXEMPTION'],
    });
    const exemption = await issueExemption(100_000, authority2);
    let suspension: Answer | undefined;
    let answered = 0;
    const answers = await runBounded(300, 40, async (i) => {
      const answer = await consume(i, {
        number: exemption.number,
        declarationNo: nextDeclarationNo(),
        quantity: 1,
        importerUscc: USCC.holder,
      });
      if (++answered === 60) {
        suspension = await post(
          instanceFor(i + 1),
          `/v1/issuers/${authority2.id}/status`,
          { status: 'suspended', reason: 'inspection' },
          ctx.adminKey,
        );
      }
      return answer;
    });
    expect(suspension?.status).toBe(200);
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const consumed = answers.filter((a) => a.body.consumption.consumed).length;
    expect(consumed).toBeGreaterThan(0);
    expect(answers.filter((a) => codes(a).includes('ISSUER_SUSPENDED')).length).toBe(
      300 - consumed,
    );
    await ctx.services.audit.sync();
    const [order] = rowsOf<{ suspended_seq: string; last_consume_seq: string }>(
      await ctx.handle.db.execute(sql`
        SELECT
          (SELECT seq FROM audit_log JOIN audit_positions ON entry_id = id WHERE subject_id = ${authority2.id} AND action = 'issuer.status') AS suspended_seq,
          (SELECT max(seq) FROM audit_log JOIN audit_positions ON entry_id = id WHERE subject_id = ${exemption.id} AND action = 'customs.consume') AS last_consume_seq`),
    );
    expect(Number(order!.last_consume_seq)).toBeLessThan(Number(order!.suspended_seq));
    expect((await api.get(`/v1/certificates/${exemption.id}`)).body.remaining).toBe(
      100_000 - consumed,
    );
  }, 60_000);

  it('judges a refusal on what is committed when it decides: a suspension lifted meanwhile refuses nothing', async () => {
    // The declaration's first read sees the exemption suspended; the reinstatement commits before
    // it decides (an outside probe refused 36 of 1,255 declarations for good that way).
    const exemption = await issueExemption(10);
    const suspended = await api.post(
      `/v1/certificates/${exemption.id}/status`,
      { status: 'suspended', reason: 'inspection', signatory: { name: '王五' } },
      authority.key,
    );
    expect(suspended.status, suspended.text).toBe(200);
    const holder = new pg.Client({ connectionString: ctx.databaseUrl });
    await holder.connect();
    try {
      // Holds the authority's turn, so the declaration waits in its transaction after its read.
      await holder.query('BEGIN');
      await holder.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [
        `certmark/turn/issuer/${authority.id}`,
      ]);
      // Two of them, one on each instance: judged again, both deduct (holding the exemption shared
      // and then both updating it deadlocked one of them into a 500: a review).
      const declarations = [0, 1].map((i) =>
        consume(i, {
          number: exemption.number,
          declarationNo: nextDeclarationNo(),
          quantity: 2,
          importerUscc: USCC.holder,
        }),
      );
      const waiting = async () =>
        count(sql`SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`);
      for (let tries = 0; (await waiting()) < 2 && tries < 200; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      expect(await waiting()).toBe(2);
      // The reinstatement commits (written as the status change writes it) while it waits.
      await holder.query(
        `UPDATE certificates SET status = 'valid', status_reason = 'lifted', status_changed_at = $2 WHERE id = $1`,
        [exemption.id, ctx.clock.now()],
      );
      await holder.query('COMMIT');
      const answers = await Promise.all(declarations);
      expect(answers.map((a) => a.status)).toEqual([200, 200]);
      expect(answers.map(codes)).toEqual([[], []]);
      expect(answers.map((a) => a.body.consumption.remaining).sort()).toEqual([6, 8]);
    } finally {
      await holder.end();
    }
  });

  it('the same declaration 20× at once deducts once; the others replay; other content → 409', async () => {
    const exemption = await issueExemption(100);
    const body = {
      number: exemption.number,
      declarationNo: nextDeclarationNo(),
      quantity: 5,
      importerUscc: USCC.holder,
      port: 'Shekou',
    };
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => consume(i, body)));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(answers.filter((a) => !a.body.consumption.replayed)).toHaveLength(1);
    expect(answers.filter((a) => a.body.consumption.replayed)).toHaveLength(19);
    for (const a of answers) {
      expect(a.body.verdict).toBe('authentic');
      expect(a.body.consumption).toMatchObject({ consumed: true, quantity: 5, remaining: 95 });
    }
    expect((await api.get(`/v1/certificates/${exemption.id}`)).body.remaining).toBe(95);
    expect(
      await count(
        sql`SELECT count(*) AS n FROM customs_consumptions WHERE declaration_no = ${body.declarationNo}`,
      ),
    ).toBe(1);
    expect(
      await count(
        sql`SELECT count(*) AS n FROM audit_log WHERE subject_id = ${exemption.id} AND action = 'customs.consume'`,
      ),
    ).toBe(1);

    const conflicts = await Promise.all(
      Array.from({ length: 6 }, (_, i) => consume(i, { ...body, quantity: 6 + i })),
    );
    for (const c of conflicts) {
      expect(c.status).toBe(409);
      expect(c.body.code).toBe('declaration_conflict');
    }
    expect((await api.get(`/v1/certificates/${exemption.id}`)).body.remaining).toBe(95);
  }, 60_000);

  it('a new declaration racing against its own conflicting twin is decided once', async () => {
    const exemption = await issueExemption(100);
    const declarationNo = nextDeclarationNo();
    const base = { number: exemption.number, declarationNo, importerUscc: USCC.holder };
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => consume(i, { ...base, quantity: i % 2 === 0 ? 3 : 4 })),
    );
    const winners = answers.filter((a) => a.status === 200 && !a.body.consumption.replayed);
    expect(winners).toHaveLength(1);
    const won = winners[0]!.body.consumption.quantity as number;
    for (const a of answers) {
      if (a.status === 200) expect(a.body.consumption.quantity).toBe(won);
      else expect(a.body.code).toBe('declaration_conflict');
    }
    expect(answers.filter((a) => a.status === 409)).toHaveLength(5);
    expect((await api.get(`/v1/certificates/${exemption.id}`)).body.remaining).toBe(100 - won);
  }, 60_000);
});
