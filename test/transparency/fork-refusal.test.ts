import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAuditEntry } from '../../src/audit/audit.queries';
import { AuditService } from '../../src/audit/audit.service';
import { AuditForkError } from '../../src/audit/sequencer';
import { systemActor } from '../../src/auth/principal';
import { rowsOf } from '../../src/db/client';
import { client, createTestContext, type TestContext } from '../helpers';
import { createRoleKey } from '../fixtures';

/**
 * A rogue operator rewrites the log under the database (triggers bypassed as a superuser) and
 * restarts the service: the log's key must not then sign a second history. An outside probe had a
 * checkpoint of 222 entries signed that did not extend the stored one of 220.
 */
describe('a log rewritten under the database', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext();
  });
  afterAll(async () => ctx.close());

  const write = (i: number) =>
    ctx.handle.db.transaction((tx) =>
      appendAuditEntry(tx, ctx.clock.now(), {
        actor: systemActor,
        action: 'test.write',
        subjectType: 'test',
        subjectId: `subject-${i}`,
        change: { i },
      }),
    );
  const checkpoints = async () =>
    rowsOf<{ tree_size: string | number }>(
      await ctx.handle.db.execute(sql`SELECT tree_size FROM audit_checkpoints ORDER BY tree_size`),
    ).map((r) => Number(r.tree_size));

  it('is refused a checkpoint by a service that reads it anew; an intact one signs on', async () => {
    for (let i = 0; i < 5; i++) await write(i);
    const size = await ctx.services.audit.sync();
    expect(await checkpoints()).toContain(size);

    // A fresh process over the intact log signs on (the check passes).
    const restarted = () =>
      new AuditService(ctx.handle.db, ctx.clock, ctx.keys.platformSeed, ctx.config.logOrigin);
    await write(5);
    expect(await restarted().sync()).toBe(size + 1);

    // The rogue edit: one position's leaf replaced, as a rewritten entry would need.
    await ctx.handle.db.transaction(async (tx) => {
      await tx.execute(sql`SET LOCAL session_replication_role = replica`);
      await tx.execute(
        sql`UPDATE audit_positions SET leaf_hash = sha256('rewritten'::bytea) WHERE seq = 2`,
      );
    });
    const signedBefore = await checkpoints();
    await write(6);
    const forked = restarted();
    await expect(forked.sync()).rejects.toThrow(AuditForkError);
    expect(await checkpoints()).toEqual(signedBefore);
    // It is still read as stored: a supervisor looking into the rewrite can search it.
    const found = await forked.search({ subject: 'subject-6', page: 1, pageSize: 10 });
    expect(found.items).toHaveLength(1);
    expect(found.items[0]!.seq).toBe(size + 2);
  });

  it('shows a supervisor an entry whose change was rewritten without its digest', async () => {
    await write(100);
    await ctx.handle.db.transaction(async (tx) => {
      await tx.execute(sql`SET LOCAL session_replication_role = replica`);
      await tx.execute(
        sql`UPDATE audit_log SET change = '{"i": 999}'::jsonb WHERE subject_id = 'subject-100'`,
      );
    });
    const supervisor = await createRoleKey(ctx, 'supervisor');
    const api = client(ctx.app);
    const search = async (subject: string) =>
      (await api.get(`/v1/audit?subject=${subject}`, supervisor)).body.items[0];
    expect(await search('subject-100')).toMatchObject({
      change: { i: 999 },
      changeMatchesDigest: false,
    });
    expect(await search('subject-1')).toMatchObject({
      change: { i: 1 },
      changeMatchesDigest: true,
    });
  });
});
