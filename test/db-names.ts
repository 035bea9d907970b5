/**
 * Test databases live on the server named by DATABASE_URL (default: the local PostgreSQL). The
 * database in that URL is only used to connect; each run makes its own template and copies.
 */
const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export function serverUrl(): URL {
  return new URL(process.env.DATABASE_URL ?? DEFAULT_URL);
}

export function adminUrl(): string {
  return serverUrl().toString();
}

export function baseDatabaseUrl(database: string): string {
  const url = serverUrl();
  url.pathname = `/${database}`;
  return url.toString();
}

export function templateName(): string {
  const db = serverUrl().pathname.replace(/^\//, '') || 'postgres';
  return `${db}_tmpl_${process.pid}`.replace(/[^a-zA-Z0-9_]/g, '_').slice(0, 50);
}
