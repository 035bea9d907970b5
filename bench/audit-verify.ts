/**
 * How fast the audit log can be verified (`certmark audit verify`), for a log of N entries
 * (default 1,000,000).
 *
 *   npx tsx bench/audit-verify.ts [entries=1000000]          in memory: JSON pages → verifier
 *   npx tsx bench/audit-verify.ts [entries=1000000] --db     also end to end: a scratch PostgreSQL
 *                                                            database, the service over HTTP, the
 *                                                            CLI's fetch loop; proofs and checkpoints
 *
 * The in-memory figure is the verifier alone (JSON.parse of 10,000-entry pages, recomputing each
 * leaf from its fields, the Merkle root, the checkpoint signature). The --db figure adds
 * PostgreSQL, the service and HTTP, with `bin/certmark.js audit verify` in its own process; it
 * also times a first checkpoint (tree head built from every leaf), a cached one, and proofs. The
 * scratch database is dropped at the end.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import pg from 'pg';
import { createApp, createServices } from '../src/app';
import { auditLeafData } from '../src/audit/audit.queries';
import { AuditLogVerifier } from '../src/audit/audit-verifier';
import { signCheckpoint } from '../src/audit/checkpoint';
import { systemClock } from '../src/clock';
import { loadConfig } from '../src/config';
import { leafHash, MerkleAccumulator } from '../src/crypto/merkle';
import { openDatabase } from '../src/db/client';
import { platformJwk } from '../src/keystore/platform-key';
import { scratchDatabase } from './lib/service-api';

const args = process.argv.slice(2);
const total = Number(args.find((a) => /^\d+$/.test(a)) ?? 1_000_000);
const withDb = args.includes('--db');
const PAGE = 10_000;

const actors = Array.from({ length: 50 }, () => randomUUID());
const start = Date.parse('2026-01-01T00:00:00Z');

/** A plausible entry (as stored) for seq. */
function entryFor(seq: number) {
  const change = { seq, note: 'bench' };
  return {
    seq,
    at: new Date(start + seq * 1000),
    actorKeyId: actors[seq % actors.length]!,
    actorRole: seq % 3 ? 'issuer' : 'supervisor',
    signatory: seq % 2 ? { name: '张三', title: 'Certification decision maker' } : null,
    action: seq % 3 ? 'certificate.issue' : 'alert.resolve',
    subjectType: seq % 3 ? 'certificate' : 'alert',
    subjectId: randomUUID(),
    changeDigest: createHash('sha256').update(JSON.stringify(change)).digest('hex'),
    change,
  };
}

const b64 = (u: Uint8Array) => Buffer.from(u).toString('base64');
const rate = (n: number, ms: number) =>
  `${Math.round(n / (ms / 1000)).toLocaleString('en')} entries/s`;

async function inMemory(): Promise<void> {
  const seed = new Uint8Array(randomBytes(32));
  const jwks = { keys: [platformJwk(seed)] };
  // Build the published pages (JSON text, as the service sends them) and the signed root.
  const pages: string[] = [];
  const tree = new MerkleAccumulator();
  const built = performance.now();
  for (let from = 1; from <= total; from += PAGE) {
    const entries = [];
    for (let seq = from; seq < Math.min(from + PAGE, total + 1); seq++) {
      const { change: _change, ...entry } = entryFor(seq);
      const leaf = leafHash(auditLeafData(entry));
      tree.append(leaf);
      entries.push({ index: seq - 1, ...entry, at: entry.at.toISOString(), leafHash: b64(leaf) });
    }
    pages.push(JSON.stringify({ entries }));
  }
  const checkpoint = signCheckpoint(seed, total, tree.root(), new Date());
  const bytes = pages.reduce((n, p) => n + p.length, 0);
  console.log(
    `built ${total.toLocaleString('en')} entries in ${((performance.now() - built) / 1000).toFixed(1)} s (${(bytes / 1e6).toFixed(0)} MB of JSON)`,
  );

  const t0 = performance.now();
  const verifier = new AuditLogVerifier();
  for (const page of pages)
    for (const entry of (JSON.parse(page) as { entries: unknown[] }).entries) verifier.add(entry);
  const result = verifier.finish({ jwks, checkpoint });
  const ms = performance.now() - t0;
  if (!result.ok)
    throw new Error(`verification failed: ${JSON.stringify(result.problems.slice(0, 3))}`);
  console.log(
    `verifier (in memory, JSON.parse + leaf recompute + root + signature): ${rate(total, ms)}, ${(ms / 1000).toFixed(1)} s`,
  );
}

async function endToEnd(): Promise<void> {
  const database = await scratchDatabase('audit');
  const handle = await openDatabase({ databaseUrl: database.url, dataDir: '' });
  const raw = new pg.Client({ connectionString: database.url });
  await raw.connect();
  try {
    const filled = performance.now();
    for (let from = 1; from <= total; from += PAGE) {
      const cols: unknown[][] = Array.from({ length: 11 }, () => []);
      for (let seq = from; seq < Math.min(from + PAGE, total + 1); seq++) {
        const e = entryFor(seq);
        const values = [
          e.seq,
          e.at.toISOString(),
          e.actorKeyId,
          e.actorRole,
          e.signatory === null ? null : JSON.stringify(e.signatory),
          e.action,
          e.subjectType,
          e.subjectId,
          e.changeDigest,
          JSON.stringify(e.change),
          `\\x${Buffer.from(leafHash(auditLeafData(e))).toString('hex')}`,
        ];
        values.forEach((v, i) => cols[i]!.push(v));
      }
      // Entry ids equal to their seqs, each entry with its position, as the sequencer leaves them.
      await raw.query(
        `WITH page AS (
           SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::uuid[], $4::text[], $5::jsonb[], $6::text[], $7::text[], $8::text[], $9::text[], $10::jsonb[], $11::bytea[])
             AS p(seq, at, actor_key_id, actor_role, signatory, action, subject_type, subject_id, change_digest, change, leaf_hash)),
         entries AS (
           INSERT INTO audit_log (id, at, actor_key_id, actor_role, signatory, action, subject_type, subject_id, change_digest, change)
           SELECT seq, at, actor_key_id, actor_role, signatory, action, subject_type, subject_id, change_digest, change FROM page)
         INSERT INTO audit_positions (seq, entry_id, leaf_hash) SELECT seq, seq, leaf_hash FROM page`,
        cols,
      );
    }
    // Nothing pending below the last entry: ids drawn from now on come after it.
    await raw.query(`SELECT setval('audit_log_id_seq', $1)`, [total]);
    await raw.query(`UPDATE audit_sequencer_horizon SET integrated_through = $1`, [total]);
    console.log(
      `filled a scratch database with ${total.toLocaleString('en')} audit entries in ${((performance.now() - filled) / 1000).toFixed(1)} s`,
    );

    const config = loadConfig({ RATE_LIMIT_PER_MINUTE: '0' });
    const keys = {
      kek: new Uint8Array(randomBytes(32)),
      platformSeed: new Uint8Array(randomBytes(32)),
    };
    const deps = { db: handle.db, config, keys, clock: systemClock };
    const app = createApp(deps, createServices(deps));
    const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const time = async (label: string, path: string) => {
      const t = performance.now();
      const res = await fetch(`${base}${path}`);
      await res.arrayBuffer();
      console.log(`${label}: ${res.status} in ${Math.round(performance.now() - t)} ms`);
    };
    try {
      await time(
        'checkpoint, first (tree head built from every leaf)',
        '/v1/transparency/checkpoint',
      );
      await time('checkpoint, next (cached tree head)', '/v1/transparency/checkpoint');
      const index = Math.floor(total * 0.37);
      await time(
        `inclusion proof, index ${index} of ${total}`,
        `/v1/transparency/proof/inclusion?index=${index}&size=${total}`,
      );
      await time(
        `consistency proof ${Math.floor(total / 3)} → ${total}`,
        `/v1/transparency/proof/consistency?from=${Math.floor(total / 3)}&to=${total}`,
      );
      const middle = Math.floor(total / 2);
      await time(
        'one page of 10,000 entries',
        `/v1/transparency/entries?start=${middle}&end=${middle + PAGE}`,
      );

      // The CLI in its own process, as a user runs it (and so not sharing this process's thread).
      const t0 = performance.now();
      const cli = spawn(process.execPath, ['bin/certmark.js', 'audit', 'verify', '--url', base], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let output = '';
      cli.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => cli.on('close', resolve));
      const ms = performance.now() - t0;
      process.stdout.write(`  cli: ${output}`);
      if (code !== 0) throw new Error(`certmark audit verify exited ${code}`);
      console.log(
        `certmark audit verify end to end (PostgreSQL → service → HTTP → CLI process): ${rate(total, ms)}, ${(ms / 1000).toFixed(1)} s`,
      );
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  } finally {
    await raw.end();
    await handle.close();
    await database.drop();
  }
}

async function main(): Promise<void> {
  console.log(
    `audit log verification, ${total.toLocaleString('en')} entries, Node ${process.version}`,
  );
  await inMemory();
  if (withDb) await endToEnd();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
