/**
 * The ceiling for bench/credential-verify.ts: jose's `jwtVerify` and nothing else. Serve mode: a
 * bare Hono route (no service code, no middleware, no database) that parses the JSON body and runs
 * `jwtVerify` against a local JWKS. Loop mode: `jwtVerify` in a loop over the given credentials,
 * no HTTP at all. The JWKS (and, for the loop, the credentials) come from a JSON file.
 *
 *   CEILING_INPUT=file.json PORT=… npx tsx bench/credential-verify-ceiling.ts            (prints `listening <port>`)
 *   CEILING_INPUT=file.json npx tsx bench/credential-verify-ceiling.ts --loop <seconds> (prints `verifies/s <n>`)
 */
import fs from 'node:fs';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';

interface CeilingInput {
  jwks: JSONWebKeySet;
  credentials: string[];
}

async function main() {
  const input = JSON.parse(fs.readFileSync(process.env.CEILING_INPUT!, 'utf8')) as CeilingInput;
  const jwks = createLocalJWKSet(input.jwks);
  const loop = process.argv.indexOf('--loop');
  if (loop >= 0) {
    const seconds = Number(process.argv[loop + 1] ?? 5);
    const until = performance.now() + seconds * 1000;
    let n = 0;
    while (performance.now() < until) {
      await jwtVerify(input.credentials[n % input.credentials.length]!, jwks, {
        algorithms: ['EdDSA'],
      });
      n++;
    }
    process.stdout.write(`verifies/s ${(n / seconds).toFixed(0)}\n`);
    return;
  }
  const app = new Hono().post('/v1/verify/certificate', async (c) => {
    const { credential } = await c.req.json<{ credential: string }>();
    try {
      const { payload } = await jwtVerify(credential, jwks, { algorithms: ['EdDSA'] });
      return c.json({ verdict: 'authentic-signature', jti: payload.jti ?? null });
    } catch {
      return c.json({ verdict: 'forged' });
    }
  });
  serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 0) }, (info) => {
    process.stdout.write(`listening ${info.port}\n`);
  });
}

void main();
