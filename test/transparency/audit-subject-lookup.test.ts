import { sql, type SQL } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAuditEntries } from '../../src/audit/audit.queries';
import { systemActor } from '../../src/auth/principal';
import { rowsOf } from '../../src/db/client';
import { createTestContext, type TestContext } from '../helpers';

/**
 * A subject's entries are found through audit_log_subject, a hash index on subject_id (migration
 * 0024): the shapes the supervisor's search and an alert's history ask in, on a log of thousands
 * of entries, read that subject's rows and no others.
 */
describe('finding a subject’s audit entries', () => {
  let ctx: TestContext;
  const alertId = '0b7f3c8e-5a51-4f39-9d0e-6a2f4f1c2d11';

  beforeAll(async () => {
    ctx = await createTestContext();
    const at = new Date('2026-11-29T08:00:00.000Z');
    const many = Array.from({ length: 3000 }, (_, i) => ({
      actor: systemActor,
      action: 'test.write',
      subjectType: 'test',
      subjectId: `subject-${i}`,
      change: { i },
    }));
    const subject = { actor: systemActor, subjectId: alertId };
    await ctx.handle.db.transaction(async (tx) => {
      await appendAuditEntries(tx, at, many);
      await appendAuditEntries(tx, at, [
        { ...subject, action: 'alert.create', subjectType: 'alert' },
        { ...subject, action: 'alert.resolve', subjectType: 'alert' },
        // The same id as another type's subject: the type tells them apart.
        { ...subject, action: 'test.write', subjectType: 'test' },
      ]);
    });
    await ctx.handle.db.execute(sql`ANALYZE audit_log`);
  });
  afterAll(() => ctx.close());

  /** The plan's scans of audit_log: the index each used (or none) and the rows it read. */
  async function scansOf(statement: SQL) {
    const [{ 'QUERY PLAN': plan }] = rowsOf<{ 'QUERY PLAN': unknown }>(
      await ctx.handle.db.execute(sql`EXPLAIN (ANALYZE, FORMAT JSON) ${statement}`),
    ) as [{ 'QUERY PLAN': unknown }];
    const scans: { index: string | null; rows: number }[] = [];
    const walk = (node: Record<string, unknown>) => {
      const index = (node['Index Name'] as string | undefined) ?? null;
      if (node['Relation Name'] === 'audit_log' || index?.startsWith('audit_log')) {
        const rows = Number(node['Actual Rows']) + Number(node['Rows Removed by Filter'] ?? 0);
        scans.push({ index, rows });
      }
      for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child);
    };
    walk((plan as { Plan: Record<string, unknown> }[])[0]!.Plan);
    return scans;
  }

  it('is a hash index on the subject’s id alone', async () => {
    const [index] = rowsOf<{ indexdef: string }>(
      await ctx.handle.db.execute(
        sql`SELECT indexdef FROM pg_indexes WHERE indexname = 'audit_log_subject'`,
      ),
    );
    expect(index?.indexdef).toMatch(/USING hash \(subject_id\)$/);
  });

  it('reads one subject’s rows for the search by subject and type', async () => {
    const statement = sql`SELECT action FROM audit_log
      WHERE subject_id = ${alertId} AND subject_type = ${'alert'} ORDER BY id DESC LIMIT 50`;
    const actions = rowsOf<{ action: string }>(await ctx.handle.db.execute(statement));
    expect(actions.map((r) => r.action)).toEqual(['alert.resolve', 'alert.create']);
    const scans = await scansOf(statement);
    expect(scans.some((s) => s.index === 'audit_log_subject')).toBe(true);
    expect(Math.max(...scans.map((s) => s.rows))).toBeLessThanOrEqual(3);
  });

  it('reads only the subjects asked for in a history of several', async () => {
    const statement = sql`SELECT action FROM audit_log
      WHERE subject_type = ${'alert'} AND subject_id IN (${alertId}, ${'subject-7'}, ${'none'})
      ORDER BY id`;
    const actions = rowsOf<{ action: string }>(await ctx.handle.db.execute(statement));
    expect(actions.map((r) => r.action)).toEqual(['alert.create', 'alert.resolve']);
    const scans = await scansOf(statement);
    expect(scans.some((s) => s.index === 'audit_log_subject')).toBe(true);
    expect(Math.max(...scans.map((s) => s.rows))).toBeLessThanOrEqual(4);
  });
});
