import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '../../src/auth/api-key';
import { createServices, type Services } from '../../src/app';
import { fixedClock } from '../../src/clock';
import { loadConfig } from '../../src/config';
import { openDatabase, rowsOf, type DatabaseHandle } from '../../src/db/client';
import {
  client,
  createTestContext,
  createTestDatabase,
  testKeys,
  TEST_NOW,
  type Client,
  type TestContext,
} from '../helpers';
import { createRoleKey } from '../fixtures';
import { migrationsBefore, scratchDatabase } from '../migrations';

const newAdminValue = () => `cm_${randomBytes(32).toString('base64url')}`;

/**
 * ADMIN_API_KEY's key (SPEC "Configuration": an admin key with this exact value exists after
 * start): a new value revokes the key the old one made, audited as a revocation is; keys made
 * through the API stay, whatever their label; the same value again changes nothing.
 */
describe('the bootstrap admin key (ADMIN_API_KEY)', () => {
  // One database for the block, as one deployment's starts: each test that changes the value leaves
  // the new one in ctx.adminKey (createRoleKey's admin) for the next.
  let ctx: TestContext;
  let api: Client;

  beforeAll(async () => {
    ctx = await createTestContext();
    api = client(ctx.app);
  });
  afterAll(async () => ctx.close());

  const keyRow = async (value: string) =>
    rowsOf<{ id: string; role: string; revoked_at: string | null; bootstrap: boolean }>(
      await ctx.handle.db.execute(
        sql`SELECT id, role, revoked_at, bootstrap FROM api_keys
            WHERE key_hash = ${Buffer.from(hashApiKey(value))}`,
      ),
    )[0]!;
  const entriesOf = async (keyId: string) =>
    rowsOf<{ action: string; actor_role: string; actor_key_id: string | null; change: unknown }>(
      await ctx.handle.db.execute(
        sql`SELECT action, actor_role, actor_key_id, change FROM audit_log
            WHERE subject_type = 'api_key' AND subject_id = ${keyId} ORDER BY id`,
      ),
    );
  const auditSize = async () =>
    Number(
      rowsOf<{ n: string }>(
        await ctx.handle.db.execute(sql`SELECT count(*) AS n FROM audit_log`),
      )[0]!.n,
    );
  /** Whether `key` authenticates as an admin: 200 on an admin route, 401 once it is revoked. */
  const statusWith = async (key: string) => (await api.get('/v1/api-keys', key)).status;

  it('revokes the key of the previous value, audited, when the value changes', async () => {
    const old = ctx.adminKey;
    expect(await statusWith(old)).toBe(200);
    const oldRow = await keyRow(old);
    expect(oldRow.bootstrap).toBe(true);

    const next = newAdminValue();
    expect(await ctx.services.apiKeys.ensureAdminKey(next)).toBe(true);

    expect(await statusWith(old)).toBe(401);
    expect(await statusWith(next)).toBe(200);
    const nextRow = await keyRow(next);
    expect([nextRow.role, nextRow.revoked_at, nextRow.bootstrap]).toEqual(['admin', null, true]);
    expect(new Date((await keyRow(old)).revoked_at!)).toEqual(ctx.clock.now());
    expect(await entriesOf(oldRow.id)).toEqual([
      {
        action: 'api_key.bootstrap',
        actor_role: 'system',
        actor_key_id: null,
        change: { role: 'admin' },
      },
      {
        action: 'api_key.revoke',
        actor_role: 'system',
        actor_key_id: null,
        change: { replacedBy: 'ADMIN_API_KEY', apiKeyId: nextRow.id },
      },
    ]);
    expect(await entriesOf(nextRow.id)).toEqual([
      {
        action: 'api_key.bootstrap',
        actor_role: 'system',
        actor_key_id: null,
        change: { role: 'admin' },
      },
    ]);
    ctx.adminKey = next;
  });

  it('leaves admin keys made through the API, even one labelled as the bootstrap key', async () => {
    const made = await api.post(
      '/v1/api-keys',
      { role: 'admin', label: 'bootstrap (ADMIN_API_KEY)' },
      ctx.adminKey,
    );
    expect(made.status, made.text).toBe(201);
    const plain = await createRoleKey(ctx, 'admin');
    expect((await keyRow(made.body.key)).bootstrap).toBe(false);

    const next = newAdminValue();
    expect(await ctx.services.apiKeys.ensureAdminKey(next)).toBe(true);
    expect(await statusWith(ctx.adminKey)).toBe(401);
    expect(await statusWith(made.body.key)).toBe(200);
    expect(await statusWith(plain)).toBe(200);
    expect((await entriesOf(made.body.id)).map((e) => e.action)).toEqual(['api_key.create']);
    ctx.adminKey = next;
  });

  it('changes and records nothing when started again with the same value', async () => {
    const before = await auditSize();
    const row = await keyRow(ctx.adminKey);
    expect(await ctx.services.apiKeys.ensureAdminKey(ctx.adminKey)).toBe(false);
    expect(await ctx.services.apiKeys.ensureAdminKey(ctx.adminKey)).toBe(false);
    expect(await auditSize()).toBe(before);
    expect(await keyRow(ctx.adminKey)).toEqual(row);
    expect(await statusWith(ctx.adminKey)).toBe(200);
  });

  it('reinstates a revoked bootstrap key, audited, and revokes the one that replaced it', async () => {
    const first = ctx.adminKey;
    const firstRow = await keyRow(first);
    const second = newAdminValue();
    await ctx.services.apiKeys.ensureAdminKey(second);
    expect(await statusWith(first)).toBe(401);

    // Back to the first value (a rollback of the configuration): the first key is active again,
    // and the start is told so (main.ts warns the operator).
    const revived: unknown[] = [];
    expect(
      await ctx.services.apiKeys.ensureAdminKey(first, { onRevived: (r) => revived.push(r) }),
    ).toBe(true);
    expect(revived).toEqual([{ apiKeyId: firstRow.id, revokedAt: expect.any(Date) }]);
    // The value of the last start: nothing revived, nothing said.
    await ctx.services.apiKeys.ensureAdminKey(first, { onRevived: (r) => revived.push(r) });
    expect(revived).toHaveLength(1);
    expect(await statusWith(first)).toBe(200);
    expect(await statusWith(second)).toBe(401);
    const entries = await entriesOf(firstRow.id);
    expect(entries.at(-1)).toEqual({
      action: 'api_key.bootstrap',
      actor_role: 'system',
      actor_key_id: null,
      change: { role: 'admin', reinstated: true, previousRole: 'admin' },
    });
    expect((await entriesOf((await keyRow(second)).id)).map((e) => e.action)).toEqual([
      'api_key.bootstrap',
      'api_key.revoke',
    ]);

    // Revoked through the API: the next start with the same value reinstates it, audited once.
    const revoked = await api.delete(
      `/v1/api-keys/${firstRow.id}`,
      await createRoleKey(ctx, 'admin'),
    );
    expect(revoked.status, revoked.text).toBe(200);
    expect(await statusWith(first)).toBe(401);
    const before = (await entriesOf(firstRow.id)).length;
    expect(await ctx.services.apiKeys.ensureAdminKey(first)).toBe(true);
    expect(await ctx.services.apiKeys.ensureAdminKey(first)).toBe(false);
    expect(await statusWith(first)).toBe(200);
    const after = await entriesOf(firstRow.id);
    expect(after.slice(before).map((e) => [e.action, e.change])).toEqual([
      ['api_key.bootstrap', { role: 'admin', reinstated: true, previousRole: 'admin' }],
    ]);
  });

  it('makes a key of another role the bootstrap key when the value is its, audited', async () => {
    const supervisorKey = await api.post('/v1/api-keys', { role: 'supervisor' }, ctx.adminKey);
    const value = supervisorKey.body.key as string;
    expect(await ctx.services.apiKeys.ensureAdminKey(value)).toBe(true);
    const row = await keyRow(value);
    expect([row.role, row.bootstrap]).toEqual(['admin', true]);
    expect((await entriesOf(row.id)).map((e) => [e.action, e.change])).toEqual([
      ['api_key.create', { role: 'supervisor', issuerId: null, label: null }],
      ['api_key.bootstrap', { role: 'admin', reinstated: true, previousRole: 'supervisor' }],
    ]);
    ctx.adminKey = value;
  });

  it('ends the replaced key’s own subscriptions, audited, as a revocation through the API does', async () => {
    // A supervisor key with a subscription, made the bootstrap key: the one way a bootstrap key
    // owns subscriptions (an admin key may not subscribe).
    const made = await api.post('/v1/api-keys', { role: 'supervisor' }, ctx.adminKey);
    const subscription = await api.post(
      '/v1/subscriptions',
      { url: 'https://receiver.example/hook', events: ['alert.opened'] },
      made.body.key,
    );
    expect(subscription.status, subscription.text).toBe(201);
    await ctx.services.apiKeys.ensureAdminKey(made.body.key);

    const next = newAdminValue();
    await ctx.services.apiKeys.ensureAdminKey(next);
    const [ended] = rowsOf<{ deleted_at: string | null }>(
      await ctx.handle.db.execute(
        sql`SELECT deleted_at FROM subscriptions WHERE id = ${subscription.body.id}::uuid`,
      ),
    );
    expect(new Date(ended!.deleted_at!)).toEqual(ctx.clock.now());
    const entries = rowsOf<{ action: string; actor_role: string; change: unknown }>(
      await ctx.handle.db.execute(
        sql`SELECT action, actor_role, change FROM audit_log
            WHERE subject_type = 'subscription' AND subject_id = ${subscription.body.id} ORDER BY id`,
      ),
    );
    expect(entries.map((e) => [e.action, e.actor_role, e.change])).toEqual([
      ['subscription.create', 'supervisor', expect.anything()],
      ['subscription.delete', 'system', { endedBy: 'api_key.revoke', apiKeyId: made.body.id }],
    ]);
    ctx.adminKey = next;
  });

  it('revokes a previous bootstrap key left active by a change made before this rule', async () => {
    const leftOver = await keyRow(ctx.adminKey);
    const current = newAdminValue();
    await ctx.services.apiKeys.ensureAdminKey(current);
    // As an earlier version left a changed ADMIN_API_KEY: the old key still active.
    await ctx.handle.db.execute(
      sql`UPDATE api_keys SET revoked_at = NULL WHERE id = ${leftOver.id}::uuid`,
    );
    expect(await statusWith(ctx.adminKey)).toBe(200);

    expect(await ctx.services.apiKeys.ensureAdminKey(current)).toBe(true);
    expect(await statusWith(ctx.adminKey)).toBe(401);
    expect(await statusWith(current)).toBe(200);
    expect((await entriesOf(leftOver.id)).at(-1)?.action).toBe('api_key.revoke');
    ctx.adminKey = current;
  });
});

describe('instances starting at once on one database', () => {
  let database: { url: string; drop(): Promise<void> };
  let instances: { handle: DatabaseHandle; services: Services }[];

  beforeAll(async () => {
    database = await createTestDatabase();
    const config = loadConfig({
      RATE_LIMIT_PER_MINUTE: '0',
      PUBLIC_BASE_URL: 'https://certmark.test',
    });
    const keys = testKeys();
    instances = await Promise.all(
      [0, 1].map(async () => {
        const handle = await openDatabase({
          databaseUrl: database.url,
          dataDir: '',
          maxConnections: 3,
        });
        const deps = {
          db: handle.db,
          config,
          keys,
          clock: fixedClock(TEST_NOW),
          ping: handle.ping,
        };
        return { handle, services: createServices(deps) };
      }),
    );
  });
  afterAll(async () => {
    for (const instance of instances) await instance.handle.close();
    await database.drop();
  });

  const activeAdminKeys = async () =>
    rowsOf<{ key_hash: Buffer }>(
      await instances[0]!.handle.db.execute(
        sql`SELECT key_hash FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL`,
      ),
    ).map((row) => Buffer.from(row.key_hash).toString('hex'));
  const hashOf = (value: string) => Buffer.from(hashApiKey(value)).toString('hex');

  it('make one first admin key between two instances without ADMIN_API_KEY', async () => {
    const made = await Promise.all(instances.map((i) => i.services.apiKeys.createFirstAdminKey()));
    const shown = made.filter((key): key is string => key !== undefined);
    // One key is shown, and it works: no instance printed a key the other then ended.
    expect(shown).toHaveLength(1);
    expect(await activeAdminKeys()).toEqual([hashOf(shown[0]!)]);
    expect(await instances[1]!.services.apiKeys.createFirstAdminKey()).toBeUndefined();
  });

  it('never end the ADMIN_API_KEY of one beside one without it', async () => {
    const configured = newAdminValue();
    const [, first] = await Promise.all([
      instances[0]!.services.apiKeys.ensureAdminKey(configured),
      instances[1]!.services.apiKeys.createFirstAdminKey(),
    ]);
    expect(first).toBeUndefined();
    // The configured key replaced the generated one, whichever came first.
    expect(await activeAdminKeys()).toEqual([hashOf(configured)]);
  });

  it('leave exactly one of two values active when they start with different ones', async () => {
    const values = [newAdminValue(), newAdminValue()];
    await Promise.all(instances.map((i, k) => i.services.apiKeys.ensureAdminKey(values[k]!)));
    const active = await activeAdminKeys();
    expect(active).toHaveLength(1);
    expect(values.map(hashOf)).toContain(active[0]);
  });
});

describe('migration 0023: the bootstrap keys made before it are marked', () => {
  const url = scratchDatabase('bootstrap_keys');

  it('marks the admin keys with an api_key.bootstrap entry, not a key labelled like one', async () => {
    const old = new pg.Client({ connectionString: url });
    await old.connect();
    const ids: Record<string, string> = {};
    try {
      await migrate(drizzle(old), { migrationsFolder: migrationsBefore('0023_api_key_bootstrap') });
      /** A key and its audit entry, as the code before the migration wrote them. */
      const insertKey = async (
        name: string,
        role: string,
        revoked: boolean,
        action: string | null,
      ) => {
        const { rows } = await old.query<{ id: string }>(
          `INSERT INTO api_keys (key_hash, prefix, role, label, revoked_at)
           VALUES ($1, 'cm_test', $2, 'bootstrap (ADMIN_API_KEY)', $3) RETURNING id`,
          [randomBytes(32), role, revoked ? new Date() : null],
        );
        ids[name] = rows[0]!.id;
        if (action)
          await old.query(
            `INSERT INTO audit_log (at, actor_role, action, subject_type, subject_id, change_digest)
             VALUES (now(), 'system', $1, 'api_key', $2, 'x')`,
            [action, ids[name]],
          );
      };
      await insertKey('bootstrap', 'admin', false, 'api_key.bootstrap');
      await insertKey('revokedBootstrap', 'admin', true, 'api_key.bootstrap');
      await insertKey('labelledOnly', 'admin', false, 'api_key.create');
      await insertKey('issuer', 'issuer', false, 'api_key.create');
      // Another subject's entry with the key's id as its subject id is no bootstrap entry.
      await insertKey('otherSubject', 'admin', false, 'api_key.create');
      await old.query(
        `INSERT INTO audit_log (at, actor_role, action, subject_type, subject_id, change_digest)
         VALUES (now(), 'system', 'api_key.bootstrap', 'subscription', $1, 'x')`,
        [ids.otherSubject],
      );
    } finally {
      await old.end();
    }

    const handle = await openDatabase({ databaseUrl: url, dataDir: '' });
    try {
      const rows = rowsOf<{ id: string; bootstrap: boolean }>(
        await handle.db.execute(sql`SELECT id, bootstrap FROM api_keys`),
      );
      const marked = Object.fromEntries(rows.map((r) => [r.id, r.bootstrap]));
      expect(Object.fromEntries(Object.entries(ids).map(([n, id]) => [n, marked[id]]))).toEqual({
        bootstrap: true,
        revokedBootstrap: true,
        labelledOnly: false,
        issuer: false,
        otherSubject: false,
      });
    } finally {
      await handle.close();
    }
  });
});

describe('listing an operator-chosen key', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext();
  });
  afterAll(async () => ctx.close());

  it('shows no part of a key an operator chose; a generated one by its first characters', async () => {
    const chosen = 'operator-chosen-admin-value-0123456789';
    await ctx.services.apiKeys.ensureAdminKey(chosen);
    const listed = (await client(ctx.app).get('/v1/api-keys', chosen)).body.items as {
      label: string | null;
      prefix: string;
    }[];
    const bootstrap = listed.filter((k) => k.label === 'bootstrap (ADMIN_API_KEY)');
    expect(bootstrap.map((k) => k.prefix)).toContain('(operator-set)');
    expect(JSON.stringify(listed)).not.toContain(chosen.slice(0, 10));
    for (const key of listed.filter((k) => k.prefix.startsWith('cm_')))
      expect(key.prefix).toHaveLength(10);
  });
});
