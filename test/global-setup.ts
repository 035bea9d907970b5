import pg from 'pg';
import { adminUrl, baseDatabaseUrl, templateName } from './db-names';
import { openDatabase } from '../src/db/client';

/**
 * Once per test run: a template database migrated with the production migrations. Each test file
 * then gets its own copy (CREATE DATABASE … TEMPLATE), so files run in parallel without sharing rows.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const template = templateName();
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${template}" WITH (FORCE)`);
  await admin.query(`CREATE DATABASE "${template}"`);
  const handle = await openDatabase({ databaseUrl: baseDatabaseUrl(template), dataDir: '' });
  await handle.close();
  process.env.CERTMARK_TEST_TEMPLATE = template;
  return async () => {
    const { rows } = await admin.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname LIKE $1`,
      [`${template}%`],
    );
    for (const { datname } of rows)
      await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    await admin.end();
  };
}
