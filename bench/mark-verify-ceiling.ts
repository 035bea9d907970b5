/**
 * The ceiling for bench/mark-verify.ts: the least a mark verification over HTTP can cost on this
 * stack. A bare Hono route on @hono/node-server that parses the JSON body, takes the code after
 * "/m/", decodes it with plain RFC 4648 base32 (@scure/base), finds the key by its 3-byte id in a
 * map of cached `KeyObject`s and runs one `node:crypto` Ed25519 verify. No service code, no
 * middleware, no registry, no scan counting. The keys are read once at start with plain `pg`.
 * Prints `listening <port>` on stdout.
 *
 *   DATABASE_URL=… PORT=… npx tsx bench/mark-verify-ceiling.ts
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { serve } from '@hono/node-server';
import { base32nopad } from '@scure/base';
import { Hono } from 'hono';
import pg from 'pg';

/** DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410 section 4). */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
/** The signed message starts with the mark signature domain and a 0x00 byte (SPEC "Product marks"). */
const DOMAIN = Buffer.from('certmark/mark/v1\0');

async function main() {
  const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  const { rows } = await client.query<{ mark_key_id: string; public_key: Buffer }>(
    `SELECT mark_key_id, public_key FROM signing_keys WHERE status <> 'compromised'`,
  );
  await client.end();
  const keys = new Map<string, KeyObject>();
  for (const row of rows) {
    keys.set(
      row.mark_key_id,
      createPublicKey({
        key: Buffer.concat([SPKI_PREFIX, row.public_key]),
        format: 'der',
        type: 'spki',
      }),
    );
  }

  const app = new Hono().post('/v1/verify/mark', async (c) => {
    const { code } = await c.req.json<{ code: string }>();
    const payload = Buffer.from(base32nopad.decode(code.slice(code.lastIndexOf('/m/') + 3)));
    const key = keys.get(payload.toString('hex', 1, 4));
    const ok =
      key !== undefined &&
      verify(null, Buffer.concat([DOMAIN, payload.subarray(0, 11)]), key, payload.subarray(11));
    const serial = payload.readBigUInt64BE(3) & 0xff_ffff_ffff_ffffn;
    return c.json({
      verdict: ok ? 'authentic-signature' : 'forged',
      serial: serial.toString().padStart(16, '0'),
    });
  });
  serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 0) }, (info) => {
    process.stdout.write(`listening ${info.port}\n`);
  });
  // An orderly exit on the bench's SIGTERM, so that a profiled run (BENCH_NODE_ARGS=--cpu-prof)
  // writes its profile.
  process.once('SIGTERM', () => process.exit(0));
}

void main();
