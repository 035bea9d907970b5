/**
 * The ceiling for bench/mark-verify.ts: a bare Hono route on the same HTTP stack that only reads the
 * code and checks its signature against the published keys (loaded once), with no registry, no scan
 * counting and no middleware. Prints its port on stdout. Not part of the service.
 *
 *   DATABASE_URL=… PORT=… npx tsx bench/mark-verify-ceiling.ts
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { openDatabase } from '../src/db/client';
import { checkMarkSignature, readScanInput } from '../src/verification/mark-signature';
import { listMarkKeys } from '../src/verification/mark-verification.queries';

async function main() {
  const handle = await openDatabase({ databaseUrl: process.env.DATABASE_URL, dataDir: '' });
  const keys = (await listMarkKeys(handle.db)).filter((k) => k.status !== 'compromised');
  const app = new Hono().post('/v1/verify/mark', async (c) => {
    const { code } = await c.req.json<{ code: string }>();
    const input = readScanInput(code);
    if (input.kind !== 'code') return c.json({ verdict: 'forged' });
    const keyId = Buffer.from(input.decoded.keyId).toString('hex');
    const check = checkMarkSignature(
      input.decoded,
      keys.filter((k) => k.markKeyId === keyId),
    );
    return c.json({ verdict: check.ok ? 'authentic-signature' : 'forged', serial: input.serial });
  });
  serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 0) }, (info) => {
    process.stdout.write(`listening ${info.port}\n`);
  });
}

void main();
