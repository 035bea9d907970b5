/**
 * `npm run lint:openapi`: writes the service's OpenAPI document and lints it with Redocly's
 * recommended rules (redocly.yaml). Part of `npm run check`; fails on any error.
 *
 * The document is built from the routes alone: no database, no keys on disk.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createApp } from '../src/app';
import { systemClock } from '../src/clock';
import { loadConfig } from '../src/config';
import type { Database } from '../src/db/client';

const app = createApp({
  db: {} as Database,
  config: loadConfig({ PUBLIC_BASE_URL: 'https://certmark.test' }),
  keys: { kek: new Uint8Array(randomBytes(32)), platformSeed: new Uint8Array(randomBytes(32)) },
  clock: systemClock,
});
const res = await app.request('/openapi.json');
if (res.status !== 200) throw new Error(`/openapi.json answered ${res.status}`);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmark-openapi-'));
const file = path.join(dir, 'openapi.json');
fs.writeFileSync(file, JSON.stringify(await res.json(), null, 2));
const result = spawnSync(
  path.join('node_modules', '.bin', 'redocly'),
  ['lint', '--config', 'redocly.yaml', '--format', 'codeframe', file],
  {
    stdio: 'inherit',
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
  },
);
fs.rmSync(dir, { recursive: true, force: true });
process.exit(result.status ?? 1);
