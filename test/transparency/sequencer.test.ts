import { createHash } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  appendAuditEntries,
  appendAuditEntry,
  auditLeafData,
  changeWithEntry,
  pendingEntriesQuery,
  pendingThroughQuery,
  SEQUENCING_LAG,
  SEQUENCING_WORK,
} from '../../src/audit/audit.queries';
import { leafHashesByIndex } from '../../src/audit/audit-log.queries';
import { AuditSequencer, SEQUENCE_BATCH, SEQUENCE_INTERVAL_MS } from '../../src/audit/sequencer';
import { TreeHead } from '../../src/audit/tree-head';
import { AuditService } from '../../src/audit/audit.service';
import { parseCheckpointBody } from '../../src/audit/checkpoint-note';
import { systemActor } from '../../src/auth/principal';
import { canonicalJson } from '../../src/crypto/canonical-json';
import { leafHash, rootHash } from '../../src/crypto/merkle';
import { openNote, parseVerifierKey } from '../../src/crypto/signed-note';
import { openDatabase, rowsOf, type DatabaseHandle } from '../../src/db/client';
import { sql, type SQL } from 'drizzle-orm';
import type { Logger } from 'pino';
import { createTestContext, type TestContext } from '../helpers';

const write = (handle: DatabaseHandle, i: number, fail = false) =>
  handle.db.transaction(async (tx) => {
    await appendAuditEntry(tx, new Date(Date.UTC(2026, 10, 24, 10, 0, 0, i)), {
      actor: systemActor,
      action: 'test.write',
      subjectType: 'test',
      subjectId: `subject-${i}`,
      change: { i },
    });
    if (fail) throw new Error('rolled back');
  });

interface Row {
  id: string;
  seq: string | null;
  leaf_hash: Uint8Array | null;
  at: Date;
  actor_key_id: string | null;
  actor_role: string | null;
  signatory: unknown;
  action: string;
  subject_type: string;
  subject_id: string;
  change_digest: string;
}

async function logRows(handle: DatabaseHandle): Promise<Row[]> {
  return rowsOf<Row>(
    await handle.db.execute(
      sql`SELECT a.*, p.seq, p.leaf_hash FROM audit_log AS a
          LEFT JOIN audit_positions AS p ON p.entry_id = a.id
          ORDER BY p.seq NULLS LAST`,
    ),
  );
}

/** The leaf a row's entry hashes to, recomputed from the entry as read back. */
const recomputedLeaf = (r: Row) =>
  leafHash(
    auditLeafData({
      seq: Number(r.seq),
      at: new Date(r.at),
      actorKeyId: r.actor_key_id,
      actorRole: r.actor_role,
      signatory: r.signatory,
      action: r.action,
      subjectType: r.subject_type,
      subjectId: r.subject_id,
      changeDigest: r.change_digest,
    }),
  );

describe('audit sequencing without a global lock', () => {
  let ctx: TestContext;
  let second: DatabaseHandle;

  beforeAll(async () => {
    ctx = await createTestContext();
    second = await openDatabase({ databaseUrl: ctx.databaseUrl, dataDir: '', maxConnections: 4 });
  });
  afterAll(async () => {
    await second.close();
    await ctx.close();
  });

  const horizon = async () =>
    Number(
      rowsOf<{ through: string }>(
        await ctx.handle.db.execute(
          sql`SELECT integrated_through AS through FROM audit_sequencer_horizon`,
        ),
      )[0]!.through,
    );

  /**
   * Runs passes until the horizon reaches `through` (or 60 s pass), and returns where it stands.
   * A candidate settles only once no transaction older than the pass that noted it is running, and
   * transaction ids are server-wide: other test files' transactions, in their own databases on the
   * same server, hold it back while they run (a large import under a loaded CI machine, for more
   * than 10 s). When it does not get there, the transactions still running are printed.
   */
  const settleHorizon = async (through: number) => {
    const deadline = Date.now() + 60_000;
    while ((await horizon()) < through && Date.now() < deadline) {
      await ctx.services.audit.sync();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // A holder that ended just after the last pass: one more pass sees it gone.
    await ctx.services.audit.sync();
    await ctx.services.audit.sync();
    const reached = await horizon();
    if (reached < through) {
      const running = await ctx.handle.db.execute(
        sql`SELECT datname, state, backend_xid::text AS xid, now() - xact_start AS running_for,
              left(query, 120) AS query
            FROM pg_stat_activity WHERE backend_xid IS NOT NULL ORDER BY xact_start`,
      );
      console.error('horizon held back by', JSON.stringify(rowsOf(running), null, 1));
    }
    return reached;
  };

  it('integrates concurrent writes from two instances with two sequencers: dense, each entry once, leaves recompute', async () => {
    const other = new AuditService(
      second.db,
      ctx.clock,
      ctx.keys.platformSeed,
      ctx.config.logOrigin,
    );
    ctx.services.audit.startSequencer();
    other.startSequencer();
    try {
      // 300 writes, 12 in flight at a time, alternating between the two instances' pools.
      const settled: PromiseSettledResult<unknown>[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: 12 }, async () => {
          while (next < 300) {
            const i = next++;
            const [result] = await Promise.allSettled([
              write(i % 2 ? ctx.handle : second, i, i % 37 === 0),
            ]);
            settled.push(result!);
          }
        }),
      );
      const reasons = settled.flatMap((s) =>
        s.status === 'rejected' ? [(s.reason as Error).message] : [],
      );
      expect(new Set(reasons)).toEqual(new Set(['rolled back']));
      const committed = settled.filter((s) => s.status === 'fulfilled').length;
      expect(committed).toBe(300 - Math.ceil(300 / 37));
      await ctx.services.audit.sync();
      await other.sync();
    } finally {
      await ctx.services.audit.sequencer.stop();
      await other.sequencer.stop();
    }
    const rows = await logRows(ctx.handle);
    // Rolled-back writes left no entry; every committed one is in the tree exactly once.
    expect(rows.filter((r) => r.action === 'test.write')).toHaveLength(300 - Math.ceil(300 / 37));
    expect(rows.every((r) => r.seq !== null && r.leaf_hash !== null)).toBe(true);
    expect(rows.map((r) => Number(r.seq))).toEqual(rows.map((_, i) => i + 1));
    for (const r of rows) {
      expect(Buffer.from(r.leaf_hash!)).toEqual(Buffer.from(recomputedLeaf(r)));
    }
    // The stored checkpoint signs the whole tree, and the log's key opens it.
    const note = (await ctx.app.request('/log/checkpoint')).text();
    const key = parseVerifierKey(await (await ctx.app.request('/log/key')).text());
    const body = parseCheckpointBody(openNote(await note, [key]).text);
    expect(body.size).toBe(rows.length);
    expect(Buffer.from(body.root)).toEqual(
      Buffer.from(rootHash(rows.map((r) => new Uint8Array(r.leaf_hash!)))),
    );
  });

  it("hashes an entry's time as the entry reads back, whatever its milliseconds and year", async () => {
    // The sequencer reads each time already printed by PostgreSQL (to_char), not as a Date; the
    // leaf must be the one recomputed from the Date the entry reads back as.
    const instants = [
      '1970-01-01T00:00:00.000Z',
      '1999-12-31T23:59:59.999Z',
      '2026-02-28T16:00:00.007Z',
      '2026-11-29T08:05:03.050Z',
      '2028-02-29T23:59:59.120Z',
      '9999-12-31T23:59:59.999Z',
    ];
    for (const instant of instants) {
      await ctx.handle.db.transaction((tx) =>
        appendAuditEntry(tx, new Date(instant), {
          actor: systemActor,
          action: 'test.time',
          subjectType: 'test',
          subjectId: instant,
        }),
      );
    }
    await ctx.services.audit.sync();
    const rows = (await logRows(ctx.handle)).filter((r) => r.action === 'test.time');
    expect(rows.map((r) => new Date(r.at).toISOString()).sort()).toEqual([...instants].sort());
    for (const r of rows) {
      expect(Buffer.from(r.leaf_hash!)).toEqual(Buffer.from(recomputedLeaf(r)));
    }
  });

  it('resumes after a sequencer dies holding the lock: nothing lost, nothing twice', async () => {
    await write(ctx.handle, 1000);
    await write(ctx.handle, 1001);
    // A sequencer on another connection takes the lock, gives one entry a position, and dies.
    const crashed = new pg.Client({ connectionString: ctx.databaseUrl });
    await crashed.connect();
    crashed.on('error', () => {});
    await crashed.query('BEGIN');
    await crashed.query(`SELECT pg_advisory_xact_lock(${0x61_75_64_74})`);
    const before = Number(
      (await crashed.query('SELECT max(seq) AS m FROM audit_positions')).rows[0].m,
    );
    await crashed.query(
      `INSERT INTO audit_positions (seq, entry_id, leaf_hash)
       SELECT $1, min(id), '\\x00'::bytea || sha256('x') FROM audit_log AS a
       WHERE NOT EXISTS (SELECT 1 FROM audit_positions AS p WHERE p.entry_id = a.id)`,
      [before + 1],
    );
    const pid = (await crashed.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    const syncing = ctx.services.audit.sync();
    const killer = new pg.Client({ connectionString: ctx.databaseUrl });
    await killer.connect();
    await killer.query('SELECT pg_terminate_backend($1)', [pid]);
    await killer.end();
    await syncing;
    const rows = await logRows(ctx.handle);
    expect(rows.map((r) => Number(r.seq))).toEqual(rows.map((_, i) => i + 1));
    expect(
      rows.filter((r) => ['subject-1000', 'subject-1001'].includes(r.subject_id)),
    ).toHaveLength(2);
    // Leaves recompute: the dead sequencer's fake leaf was rolled back with it.
    const last = rows.at(-2)!;
    expect(last.leaf_hash!.length).toBe(32);
  });

  it('rewrites nothing: a pending entry, an integrated one and a position once given are refused', async () => {
    await write(ctx.handle, 2000);
    const db = new pg.Client({ connectionString: ctx.databaseUrl });
    await db.connect();
    try {
      const pending = `(SELECT min(id) FROM audit_log AS a
        WHERE NOT EXISTS (SELECT 1 FROM audit_positions AS p WHERE p.entry_id = a.id))`;
      await expect(
        db.query(`UPDATE audit_log SET action = 'forged' WHERE id = ${pending}`),
      ).rejects.toThrow(/append-only/);
      await expect(
        db.query(
          `UPDATE audit_log SET action = 'forged' WHERE id = (SELECT entry_id FROM audit_positions WHERE seq = 1)`,
        ),
      ).rejects.toThrow(/append-only/);
      await expect(
        db.query(`UPDATE audit_positions SET seq = 99999, leaf_hash = sha256('x') WHERE seq = 1`),
      ).rejects.toThrow(/append-only/);
      await expect(db.query(`DELETE FROM audit_positions WHERE seq = 1`)).rejects.toThrow(
        /append-only/,
      );
      await expect(db.query(`TRUNCATE audit_positions`)).rejects.toThrow(/append-only/);
    } finally {
      await db.end();
    }
    await ctx.services.audit.sync();
    const lag = await ctx.services.audit.sequencingLag();
    expect(lag).toEqual({ pendingEntries: 0, oldestPendingSeconds: 0 });
  });

  it('integrates an entry whose transaction commits long after larger ids were integrated, and moves its horizon past it only then', async () => {
    // A transaction draws an entry id and stays open while others write and are integrated.
    const slow = new pg.Client({ connectionString: ctx.databaseUrl });
    await slow.connect();
    await slow.query('BEGIN');
    const { rows } = await slow.query<{ id: string }>(
      `INSERT INTO audit_log (at, actor_role, action, subject_type, subject_id, change_digest)
       VALUES (now(), 'system', 'test.slow', 'test', 'slow', 'x') RETURNING id`,
    );
    const slowId = Number(rows[0]!.id);
    for (let i = 0; i < 3; i++) {
      await write(ctx.handle, 5000 + i);
      await ctx.services.audit.sync();
    }
    // Every pass saw larger ids committed; none may move the horizon past the open transaction's.
    expect(await horizon()).toBeLessThan(slowId);
    const size = await ctx.services.audit.sync();
    await slow.query('COMMIT');
    await slow.end();
    expect(await ctx.services.audit.sync()).toBe(size + 1);
    const log = await logRows(ctx.handle);
    expect(log.filter((r) => r.action === 'test.slow').map((r) => Number(r.seq))).toEqual([
      size + 1,
    ]);
    expect(log.map((r) => Number(r.seq))).toEqual(log.map((_, i) => i + 1));
    // Once nothing is in flight the horizon catches up with the last id (idle passes move it).
    const lastId = Math.max(...log.map((r) => Number(r.id)));
    expect(await settleHorizon(lastId)).toBe(lastId);
    expect(await ctx.services.audit.sequencingLag()).toEqual({
      pendingEntries: 0,
      oldestPendingSeconds: 0,
    });
  }, 100_000);

  it('reports the sequencing lag while entries wait', async () => {
    await write(ctx.handle, 3000);
    const lag = await ctx.services.audit.sequencingLag();
    expect(lag.pendingEntries).toBe(1);
    expect(lag.oldestPendingSeconds).toBeGreaterThanOrEqual(0);
    await ctx.services.audit.sync();
    expect((await ctx.services.audit.sequencingLag()).pendingEntries).toBe(0);
  });

  it('stores an entry as its transaction gave it, on that transaction: JSON as JSON, absent as NULL', async () => {
    const actor = { keyId: '6f1c2a8e-3b7d-4c2e-9a51-0d4e8f6b7c31', role: 'admin' };
    const change = {
      name: 'Ünïcode “issuer”',
      schemes: ['CCC', 'CQC'],
      nested: { b: 1, a: [true, null] },
    };
    const signatory = { name: 'Wang Fang', title: 'Director' };
    const ids = await ctx.handle.db.transaction(async (tx) => [
      await appendAuditEntry(tx, new Date('2026-11-24T10:00:00.123Z'), {
        actor,
        action: 'test.stored',
        subjectType: 'test',
        subjectId: 'stored-full',
        signatory,
        change,
      }),
      await appendAuditEntry(tx, new Date('2026-11-24T10:00:00.124Z'), {
        actor: systemActor,
        action: 'test.stored',
        subjectType: 'test',
        subjectId: 'stored-bare',
      }),
    ]);
    // A statement sent outside the transaction would have committed despite the rollback.
    await expect(
      ctx.handle.db.transaction(async (tx) => {
        await appendAuditEntry(tx, new Date(), {
          actor: systemActor,
          action: 'test.stored',
          subjectType: 'test',
          subjectId: 'stored-rolled-back',
        });
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    // SQL NULL, not the JSON null a driver would read back the same.
    const rows = rowsOf<Row & { id: string; change: unknown; absent: boolean[] }>(
      await ctx.handle.db.execute(
        sql`SELECT a.*, p.seq, p.leaf_hash, ARRAY[signatory IS NULL, change IS NULL] AS absent
            FROM audit_log AS a LEFT JOIN audit_positions AS p ON p.entry_id = a.id
            WHERE action = 'test.stored' ORDER BY id`,
      ),
    );
    expect(rows.map((r) => Number(r.id))).toEqual(ids);
    const [full, bare] = rows;
    expect(full).toMatchObject({
      seq: null,
      leaf_hash: null,
      actor_key_id: actor.keyId,
      actor_role: 'admin',
      signatory,
      action: 'test.stored',
      subject_type: 'test',
      subject_id: 'stored-full',
      change,
      change_digest: createHash('sha256').update(canonicalJson(change)).digest('hex'),
      absent: [false, false],
    });
    expect(new Date(full!.at).toISOString()).toBe('2026-11-24T10:00:00.123Z');
    expect(bare).toMatchObject({
      actor_key_id: null,
      actor_role: 'system',
      signatory: null,
      change: null,
      change_digest: createHash('sha256').update('null').digest('hex'),
      absent: [true, true],
    });
    await ctx.services.audit.sync();
  });

  it('never moves its horizon past the ids of a writer still in flight: long transactions written while it runs are all integrated', async () => {
    // A pass that notes its candidate while a writer is mid-transaction must not count that
    // writer's ids as settled until it ends (the snapshot's xmax, once used as the bound, let
    // the horizon pass them: 50–377 of 20,000 such entries were never integrated).
    ctx.services.audit.startSequencer();
    let n = 0;
    try {
      for (let t = 0; t < 10; t++) {
        await second.db.transaction(async (tx) => {
          for (let i = 0; i < 1000; i++) {
            await appendAuditEntry(tx, new Date(), {
              actor: systemActor,
              action: 'test.inflight',
              subjectType: 'test',
              subjectId: `inflight-${n++}`,
            });
          }
        });
      }
      await ctx.services.audit.sync();
      await ctx.services.audit.sync();
    } finally {
      await ctx.services.audit.sequencer.stop();
    }
    const [counts] = rowsOf<{ entries: number; integrated: number }>(
      await ctx.handle.db.execute(sql`
        SELECT count(*)::int AS entries, count(p.seq)::int AS integrated
        FROM audit_log AS a LEFT JOIN audit_positions AS p ON p.entry_id = a.id
        WHERE a.action = 'test.inflight'`),
    );
    expect(counts).toEqual({ entries: 10_000, integrated: 10_000 });
  });

  it('reads only what was written since the horizon: a pass, its probe and the lag cost the same whatever the size of the log', async () => {
    await ctx.handle.db.transaction((tx) =>
      appendAuditEntries(
        tx,
        new Date(),
        Array.from({ length: 3000 }, (_, i) => ({
          actor: systemActor,
          action: 'test.bulk',
          subjectType: 'test',
          subjectId: `bulk-${i}`,
        })),
      ),
    );
    await ctx.services.audit.sync();
    const [{ last }] = rowsOf<{ last: string }>(
      await ctx.handle.db.execute(sql`SELECT max(id) AS last FROM audit_log`),
    ) as [{ last: string }];
    const bulkEnd = Number(last);
    expect(await settleHorizon(bulkEnd)).toBeGreaterThanOrEqual(bulkEnd);
    await write(ctx.handle, 5000);
    /** Rows each scan of audit_log and audit_positions read, wherever the planner put them. */
    const rowsRead = async (statement: SQL) => {
      const [{ 'QUERY PLAN': plan }] = rowsOf<{ 'QUERY PLAN': unknown }>(
        await ctx.handle.db.execute(sql`EXPLAIN (ANALYZE, FORMAT JSON) ${statement}`),
      ) as [{ 'QUERY PLAN': unknown }];
      const scanned: Record<string, number> = {};
      const walk = (node: Record<string, unknown>) => {
        const relation = node['Relation Name'] as string | undefined;
        if (relation) {
          // What the scan read: the rows it produced and the ones its filter dropped.
          const read = Number(node['Actual Rows']) + Number(node['Rows Removed by Filter'] ?? 0);
          const rows = read * Number(node['Actual Loops'] ?? 1);
          scanned[relation] = (scanned[relation] ?? 0) + rows;
        }
        for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? [])
          walk(child);
      };
      walk((plan as { Plan: Record<string, unknown> }[])[0]!.Plan);
      return { audit_log: scanned.audit_log ?? 0, audit_positions: scanned.audit_positions ?? 0 };
    };
    // One entry pending above a settled horizon, over 3,000 integrated: a bounded read touches a
    // handful of index entries; one from the start of either index, or a sequential scan, reads
    // thousands.
    const statements = {
      pendingEntries: pendingEntriesQuery(SEQUENCE_BATCH),
      work: SEQUENCING_WORK,
      lag: SEQUENCING_LAG,
      through: pendingThroughQuery(bulkEnd + 10),
    };
    // Planned as the tables stand (without statistics where autovacuum is off and nothing ran
    // ANALYZE, as on the test server), then with fresh statistics.
    const [{ analysed }] = rowsOf<{ analysed: boolean }>(
      await ctx.handle.db.execute(
        sql`SELECT reltuples >= 0 AS analysed FROM pg_class WHERE oid = 'audit_log'::regclass`,
      ),
    ) as [{ analysed: boolean }];
    for (const statistics of [analysed ? 'as autovacuum left them' : 'none', 'fresh']) {
      if (statistics === 'fresh') {
        await ctx.handle.db.execute(sql`ANALYZE audit_log, audit_positions`);
      }
      for (const [name, statement] of Object.entries(statements)) {
        const read = await rowsRead(statement);
        const what = `${name}, statistics ${statistics}`;
        expect(read.audit_log, what).toBeGreaterThanOrEqual(1);
        expect(read.audit_log, what).toBeLessThan(50);
        expect(read.audit_positions, what).toBeLessThan(50);
      }
    }
    await ctx.services.audit.sync();
  }, 100_000);

  it('says once in a while, not at every pass, that it keeps failing while the database is away', async () => {
    const gone = await openDatabase({
      databaseUrl: ctx.databaseUrl,
      dataDir: '',
      maxConnections: 1,
    });
    await gone.close(); // every query of this handle now fails
    const warnings: unknown[] = [];
    const logger = { warn: (...args: unknown[]) => warnings.push(args) } as unknown as Logger;
    const sequencer = new AuditSequencer({
      db: gone.db,
      clock: ctx.clock,
      head: new TreeHead(() => Promise.resolve([])),
      platformSeed: ctx.keys.platformSeed,
      origin: ctx.config.logOrigin,
      logger,
    });
    sequencer.start();
    // Ten or so passes, 100 ms apart, all failing: one line.
    await new Promise((resolve) => setTimeout(resolve, SEQUENCE_INTERVAL_MS * 10));
    await sequencer.stop();
    expect(sequencer.passes).toBeGreaterThanOrEqual(5);
    expect(warnings).toHaveLength(1);
  });

  it("hands a background pass's batch to the tree head instead of reading it back, with the same root", async () => {
    let reads = 0;
    const head = new TreeHead((from, to) => {
      reads++;
      return leafHashesByIndex(second.db, from, to);
    });
    const sequencer = new AuditSequencer({
      db: second.db,
      clock: ctx.clock,
      head,
      platformSeed: ctx.keys.platformSeed,
      origin: ctx.config.logOrigin,
    });
    const integrated = async () =>
      Number(
        rowsOf<{ size: string }>(
          await ctx.handle.db.execute(
            sql`SELECT COALESCE(MAX(seq), 0) AS size FROM audit_positions`,
          ),
        )[0]!.size,
      );
    const caughtUp = async (size: number) => {
      const deadline = Date.now() + 10_000;
      while (head.size < size && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(head.size).toBe(size);
    };
    await write(ctx.handle, 7000);
    await ctx.services.audit.sync();
    const before = await integrated();
    sequencer.start();
    try {
      // Its first batch does not start where its empty head ends: read, with what came before.
      await write(ctx.handle, 7001);
      await caughtUp(before + 1);
      expect(reads).toBeGreaterThan(0);
      const readsWhenCaughtUp = reads;
      for (let batch = 0; batch < 3; batch++) {
        const expected = head.size + 5;
        for (let i = 0; i < 5; i++) await write(ctx.handle, 7100 + batch * 10 + i);
        await caughtUp(expected);
      }
      expect(reads).toBe(readsWhenCaughtUp);
      // The root of what it was handed is the root of what the database holds.
      const fresh = new TreeHead((from, to) => leafHashesByIndex(ctx.handle.db, from, to));
      expect(await head.rangeRoot(0, head.size)).toEqual((await fresh.advance()).root);
    } finally {
      await sequencer.stop();
    }
  });

  it('shares passes among readers that sync at once: one more pass after the running one, not one each', async () => {
    await write(ctx.handle, 8000);
    const sequencer = ctx.services.audit.sequencer;
    const before = sequencer.passes;
    const sizes = await Promise.all(Array.from({ length: 50 }, () => ctx.services.audit.sync()));
    const passes = sequencer.passes - before;
    expect(new Set(sizes).size).toBe(1); // every reader sees the entry written before it asked
    expect(sizes[0]).toBe(await ctx.services.audit.sync());
    expect(passes).toBeGreaterThanOrEqual(1);
    expect(passes).toBeLessThan(10); // one each: 50
  });

  it("carries an entry in its change's statement: both or neither, none when no row changed", async () => {
    await ctx.handle.db.execute(
      sql`CREATE TABLE test_changes (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), n int NOT NULL)`,
    );
    const at = new Date('2026-11-24T10:00:01.500Z');
    const insert = (n: number) => ({
      name: 'test_change_insert',
      text: 'INSERT INTO test_changes (n) VALUES ($1) RETURNING id, n',
      values: [n],
    });
    const bump = (id: string) => ({
      name: 'test_change_bump',
      text: 'UPDATE test_changes SET n = n + 1 WHERE id = $1 AND n < 2 RETURNING id, n',
      values: [id],
    });
    const entry = {
      actor: systemActor,
      action: 'test.change',
      subjectType: 'test',
      change: { k: 1 },
    };
    // The subject is the changed row's id unless given.
    const created = await ctx.handle.db.transaction((tx) =>
      changeWithEntry<{ id: string; n: number }>(tx, insert(1), at, entry),
    );
    expect(created).toMatchObject({ n: 1 });
    const bumped = await ctx.handle.db.transaction((tx) =>
      changeWithEntry<{ id: string; n: number }>(tx, bump(created!.id), at, {
        ...entry,
        subjectId: 'given-subject',
      }),
    );
    expect(bumped).toMatchObject({ id: created!.id, n: 2 });
    // The condition no longer holds: nothing changes, nothing is recorded.
    const unchanged = await ctx.handle.db.transaction((tx) =>
      changeWithEntry(tx, bump(created!.id), at, entry),
    );
    expect(unchanged).toBeUndefined();
    // Rolled back after the statement: neither the row nor its entry stays.
    await expect(
      ctx.handle.db.transaction(async (tx) => {
        await changeWithEntry(tx, insert(7), at, entry);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    const rows = rowsOf<Row & { id: string; change: unknown }>(
      await ctx.handle.db.execute(
        sql`SELECT * FROM audit_log WHERE action = 'test.change' ORDER BY id`,
      ),
    );
    expect(rows.map((r) => [Number(r.id), r.subject_id])).toEqual([
      [created!.auditEntryId, created!.id],
      [bumped!.auditEntryId, 'given-subject'],
    ]);
    expect(rows[0]).toMatchObject({
      actor_role: 'system',
      subject_type: 'test',
      change: { k: 1 },
      change_digest: createHash('sha256')
        .update(canonicalJson({ k: 1 }))
        .digest('hex'),
    });
    expect(new Date(rows[0]!.at).toISOString()).toBe(at.toISOString());
    const kept = rowsOf<{ n: number }>(
      await ctx.handle.db.execute(sql`SELECT n FROM test_changes ORDER BY n`),
    );
    expect(kept).toEqual([{ n: 2 }]);
    await ctx.services.audit.sync();
  });

  it('integrates in the background within its interval, and signs a checkpoint lost between integrating and signing', async () => {
    const checkpointSize = async () =>
      Number(
        rowsOf<{ size: string | null }>(
          await ctx.handle.db.execute(sql`SELECT MAX(tree_size) AS size FROM audit_checkpoints`),
        )[0]?.size ?? 0,
      );
    const logSize = async () =>
      Number(
        rowsOf<{ size: string | null }>(
          await ctx.handle.db.execute(sql`SELECT MAX(seq) AS size FROM audit_positions`),
        )[0]?.size ?? 0,
      );
    const until = async (done: () => Promise<boolean>) => {
      const deadline = Date.now() + 20 * SEQUENCE_INTERVAL_MS;
      while (!(await done())) {
        if (Date.now() > deadline) throw new Error('the background sequencer did not catch up');
        await new Promise((resolve) => setTimeout(resolve, SEQUENCE_INTERVAL_MS / 4));
      }
    };
    await ctx.services.audit.sync();
    const before = await logSize();
    ctx.services.audit.startSequencer();
    try {
      await write(ctx.handle, 4000);
      await until(async () => (await checkpointSize()) === before + 1);
      expect(await logSize()).toBe(before + 1);
      // A sequencer that died after committing its batch but before storing the checkpoint: the
      // tree is larger than its latest checkpoint, with nothing pending. Polling still signs it.
      await ctx.handle.db.execute(
        sql`DELETE FROM audit_checkpoints WHERE tree_size = ${before + 1}`,
      );
      expect(await checkpointSize()).toBeLessThan(before + 1);
      await until(async () => (await checkpointSize()) === before + 1);
      // An entry drawn before a pass and committed after it, with nothing drawn since: the poll
      // that sees no new id must still look, find it and integrate it.
      const slow = new pg.Client({ connectionString: ctx.databaseUrl });
      await slow.connect();
      await slow.query('BEGIN');
      await slow.query(
        `INSERT INTO audit_log (at, actor_role, action, subject_type, subject_id, change_digest)
         VALUES (now(), 'system', 'test.late', 'test', 'late', 'x')`,
      );
      await write(ctx.handle, 4001);
      await until(async () => (await checkpointSize()) === before + 2);
      const passes = ctx.services.audit.sequencer.passes;
      await until(async () => ctx.services.audit.sequencer.passes >= passes + 2);
      await slow.query('COMMIT');
      await slow.end();
      await until(async () => (await checkpointSize()) === before + 3);
      const late = rowsOf<{ seq: string }>(
        await ctx.handle.db.execute(
          sql`SELECT p.seq FROM audit_log AS a JOIN audit_positions AS p ON p.entry_id = a.id
              WHERE a.action = 'test.late'`,
        ),
      );
      expect(late.map((r) => Number(r.seq))).toEqual([before + 3]);
    } finally {
      await ctx.services.audit.sequencer.stop();
    }
  });
});
