import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import { describe, expect, it } from 'vitest';
import { auditLeafData } from '../../src/audit/audit.queries';
import { AuditService } from '../../src/audit/audit.service';
import { fixedClock } from '../../src/clock';
import { leafHash } from '../../src/crypto/merkle';
import { openDatabase, type DatabaseHandle } from '../../src/db/client';
import { migrationsBefore, scratchDatabase } from '../migrations';

const entry = (i: number) => ({
  at: new Date(Date.UTC(2026, 10, 20, 9, 0, i)),
  actorKeyId: null,
  actorRole: 'system',
  signatory: null,
  action: 'test.before-upgrade',
  subjectType: 'test',
  subjectId: `before-${i}`,
  changeDigest: createHash('sha256').update(`{"i":${i}}`).digest('hex'),
});

/** Writes entry `i` as the older schemas take it (id `i` in a fresh log). */
async function insertEntry(client: pg.Client, i: number): Promise<void> {
  const e = entry(i);
  await client.query(
    `INSERT INTO audit_log (at, actor_role, action, subject_type, subject_id, change_digest, change)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [e.at, e.actorRole, e.action, e.subjectType, e.subjectId, e.changeDigest, { i }],
  );
}

/** Gives entry `id` position `seq`, with its leaf hash, as the older sequencer did. */
async function insertPosition(client: pg.Client, seq: number, id: number): Promise<void> {
  const leaf = Buffer.from(leafHash(auditLeafData({ ...entry(id), seq })));
  await client.query(`INSERT INTO audit_positions (seq, entry_id, leaf_hash) VALUES ($1, $2, $3)`, [
    seq,
    id,
    leaf,
  ]);
}

/** The audit log of an upgraded database, as the service reads it. */
const auditOf = (db: DatabaseHandle['db']) =>
  new AuditService(db, fixedClock(new Date()), randomBytes(32), 'test/log');

/** The entries' subjects in log order: `before-<i>` for entry i. */
async function subjectsInLog(audit: AuditService, size: number): Promise<string[]> {
  const { entries } = await audit.entries(0, size);
  return entries.map((e) => e.subjectId);
}

describe('migration 0019: positions move to audit_positions', () => {
  const url = scratchDatabase('upgrade');

  it('keeps every integrated entry at its seq with its leaf hash, and integrates the pending ones after them', async () => {
    // A log as the code before the upgrade left it: entries 1–3 integrated, 4–5 pending.
    const old = new pg.Client({ connectionString: url });
    await old.connect();
    const leaves: Buffer[] = [];
    try {
      await migrate(drizzle(old), { migrationsFolder: migrationsBefore('0019_audit_positions') });
      for (let i = 1; i <= 5; i++) {
        const leaf = i <= 3 ? Buffer.from(leafHash(auditLeafData({ ...entry(i), seq: i }))) : null;
        if (leaf) leaves.push(leaf);
        await insertEntry(old, i);
        if (leaf) {
          await old.query(`UPDATE audit_log SET seq = $1, leaf_hash = $2 WHERE id = $1`, [i, leaf]);
        }
      }
    } finally {
      await old.end();
    }

    const handle = await openDatabase({ databaseUrl: url, dataDir: '' });
    try {
      const check = new pg.Client({ connectionString: url });
      await check.connect();
      try {
        const positions = async () =>
          (
            await check.query<{ seq: string; entry_id: string; leaf_hash: Buffer }>(
              `SELECT seq, entry_id, leaf_hash FROM audit_positions ORDER BY seq`,
            )
          ).rows;
        expect((await positions()).map((p) => [Number(p.seq), Number(p.entry_id)])).toEqual([
          [1, 1],
          [2, 2],
          [3, 3],
        ]);
        expect((await positions()).map((p) => p.leaf_hash)).toEqual(leaves);
        const columns = await check.query(
          `SELECT column_name FROM information_schema.columns
           WHERE table_name = 'audit_log' AND column_name IN ('seq', 'leaf_hash')`,
        );
        expect(columns.rowCount).toBe(0);

        const audit = auditOf(handle.db);
        expect(await audit.sequencingLag()).toMatchObject({ pendingEntries: 2 });
        expect(await audit.sync()).toBe(5);
        const after = await positions();
        expect(after.map((p) => [Number(p.seq), Number(p.entry_id)])).toEqual([
          [1, 1],
          [2, 2],
          [3, 3],
          [4, 4],
          [5, 5],
        ]);
        for (const p of after.slice(3)) {
          const seq = Number(p.seq);
          expect(p.leaf_hash).toEqual(Buffer.from(leafHash(auditLeafData({ ...entry(seq), seq }))));
        }
        // The public entries read back in log order, the old ones first.
        expect(await subjectsInLog(audit, 5)).toEqual([1, 2, 3, 4, 5].map((i) => `before-${i}`));
      } finally {
        await check.end();
      }
    } finally {
      await handle.close();
    }
  });
});

describe('migration 0021: entries the horizon passed while in flight are integrated', () => {
  const url = scratchDatabase('reopen');

  it('reopens the horizon below the first entry left behind, and the sequencer integrates it', async () => {
    // A log as the xmax-bounded horizon could leave it: entries 1–5, 2 and 3 never integrated
    // although the horizon is past them.
    const old = new pg.Client({ connectionString: url });
    await old.connect();
    try {
      await migrate(drizzle(old), {
        migrationsFolder: migrationsBefore('0021_audit_horizon_reopen'),
      });
      for (let i = 1; i <= 5; i++) await insertEntry(old, i);
      for (const [seq, id] of [
        [1, 1],
        [2, 4],
        [3, 5],
      ] as const) {
        await insertPosition(old, seq, id);
      }
      await old.query(
        `UPDATE audit_sequencer_horizon SET integrated_through = 5, candidate_id = 5,
           candidate_xid = pg_current_xact_id()`,
      );
    } finally {
      await old.end();
    }

    const handle = await openDatabase({ databaseUrl: url, dataDir: '' });
    try {
      const audit = auditOf(handle.db);
      expect(await audit.sequencingLag()).toMatchObject({ pendingEntries: 2 });
      expect(await audit.sync()).toBe(5);
      expect(await subjectsInLog(audit, 5)).toEqual([1, 4, 5, 2, 3].map((i) => `before-${i}`));
    } finally {
      await handle.close();
    }
  });
});

describe('migration 0021: an entry still being written when it runs', () => {
  const url = scratchDatabase('reopen_inflight');

  it('waits for it to commit, so the entry the horizon passed while in flight is found and integrated', async () => {
    // Entries 1–3 integrated; entry 4 being written by a transaction still open; the horizon
    // already past it (as the xmax bound could leave it).
    const old = new pg.Client({ connectionString: url });
    const writer = new pg.Client({ connectionString: url });
    await old.connect();
    await writer.connect();
    let migrated: Promise<unknown> | undefined;
    try {
      await migrate(drizzle(old), {
        migrationsFolder: migrationsBefore('0021_audit_horizon_reopen'),
      });
      for (let i = 1; i <= 3; i++) {
        await insertEntry(old, i);
        await insertPosition(old, i, i);
      }
      await writer.query('BEGIN');
      await insertEntry(writer, 4);
      await old.query(`UPDATE audit_sequencer_horizon SET integrated_through = 4`);

      // The upgrade starts while entry 4 is uncommitted: it must wait for it.
      migrated = openDatabase({ databaseUrl: url, dataDir: '' });
      const deadline = Date.now() + 10_000;
      let waiting = 0;
      while (waiting === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        const { rows } = await old.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_locks
           WHERE relation = 'audit_log'::regclass AND mode = 'ShareLock' AND NOT granted`,
        );
        waiting = rows[0]!.n;
      }
      expect(waiting).toBe(1);
      await writer.query('COMMIT');
    } finally {
      await writer.end();
      await old.end();
    }
    const handle = (await migrated) as DatabaseHandle;
    try {
      const audit = auditOf(handle.db);
      expect(await audit.sync()).toBe(4);
      expect(await subjectsInLog(audit, 4)).toEqual([1, 2, 3, 4].map((i) => `before-${i}`));
    } finally {
      await handle.close();
    }
  });
});
