import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { adminUrl, baseDatabaseUrl } from './db-names';

/**
 * The migrations as they were before migration `tag` (its journal entry and every later one left
 * out), in a folder of their own: a database migrated with them is one the upgrade meets.
 */
export function migrationsBefore(tag: string): string {
  const journal = JSON.parse(fs.readFileSync('migrations/meta/_journal.json', 'utf8')) as {
    entries: { tag: string }[];
  };
  const upTo = journal.entries.findIndex((e) => e.tag === tag);
  if (upTo < 0) throw new Error(`no migration ${tag} in the journal`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmark-migrations-'));
  fs.mkdirSync(path.join(dir, 'meta'));
  const entries = journal.entries.slice(0, upTo);
  for (const { tag: t } of entries)
    fs.copyFileSync(`migrations/${t}.sql`, path.join(dir, `${t}.sql`));
  fs.writeFileSync(path.join(dir, 'meta/_journal.json'), JSON.stringify({ ...journal, entries }));
  return dir;
}

/**
 * An empty database of its own for the describe block it is called in, dropped after it; its
 * URL.
 */
export function scratchDatabase(prefix: string): string {
  const name = `certmark_${prefix}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl() });
  beforeAll(async () => {
    await admin.connect();
    await admin.query(`CREATE DATABASE "${name}"`);
  });
  afterAll(async () => {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
  });
  return baseDatabaseUrl(name);
}
