import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, createServices } from '../../src/app';
import { recomputeLeafHash, verifyAuditLog } from '../../src/audit/audit-verifier';
import { checkpointText, verifyCheckpoint } from '../../src/audit/checkpoint';
import { TreeHead } from '../../src/audit/tree-head';
import { runAuditCommand, verifyRemoteAuditLog, type AuditCommandIo } from '../../src/cli/audit';
import { verifyEd25519 } from '../../src/crypto/ed25519';
import {
  consistencyProof,
  consistencyProofRanges,
  inclusionProof,
  inclusionProofRanges,
  leafHash,
  rootHash,
  verifyConsistency,
  verifyInclusion,
} from '../../src/crypto/merkle';
import { platformJwk } from '../../src/keystore/platform-key';
import { client, createTestContext, type Client, type TestContext } from '../helpers';
import { createIssuer, createRoleKey } from '../fixtures';

const BASE = 'http://certmark.test';
const b = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));

function cliIo(app: TestContext['app'], out: string[] = []): AuditCommandIo {
  return {
    fetch: async (url) => app.request(url),
    stdout: (text) => out.push(text),
    stderr: (text) => out.push(text),
  };
}

describe('proof ranges and the cached tree head', () => {
  it('give exactly the proofs and roots of src/crypto/merkle.ts, from cached chunk roots', async () => {
    const leaves = Array.from({ length: 40 }, (_, i) => leafHash(new Uint8Array([i, i >> 8])));
    let reads = 0;
    const read = async (from: number, to: number) => {
      reads += 1;
      return leaves.slice(from, Math.min(to, from + 7));
    };
    const head = new TreeHead(read, 4);
    expect(await head.advance()).toEqual({ size: 40, root: rootHash(leaves) });
    for (let size = 1; size <= leaves.length; size++) {
      expect(await head.rangeRoot(0, size)).toEqual(rootHash(leaves, size));
      for (let index = 0; index < size; index++) {
        expect(await head.rangeRoots(inclusionProofRanges(index, size))).toEqual(
          inclusionProof(leaves, index, size),
        );
      }
      for (let from = 1; from <= size; from++) {
        expect(await head.rangeRoots(consistencyProofRanges(from, size))).toEqual(
          consistencyProof(leaves, from, size),
        );
      }
    }
    // Above the chunk level a proof reads no leaf.
    reads = 0;
    await head.rangeRoots(inclusionProofRanges(0, 32));
    expect(await head.rangeRoot(0, 32)).toEqual(rootHash(leaves, 32));
    expect(reads).toBe(2); // only the siblings below the chunk level: leaves [1,2) and [2,4)
  });
});

describe('audit log and transparency', () => {
  let ctx: TestContext;
  let api: Client;
  let supervisor: string;
  let firstCheckpoint: any;

  beforeAll(async () => {
    ctx = await createTestContext();
    api = client(ctx.app);
    supervisor = await createRoleKey(ctx, 'supervisor');
    for (let i = 0; i < 4; i++) await createIssuer(ctx, { name: `Issuer ${i}` });
    firstCheckpoint = (await api.get('/v1/transparency/checkpoint')).body;
    for (let i = 0; i < 3; i++) {
      await api.post('/v1/reports', {
        certificateNumber: `N-${i}`,
        description: 'suspicious label',
        region: '350100',
      });
    }
  });
  afterAll(async () => ctx.close());

  it('signs checkpoints with the platform key published in the JWKS', async () => {
    const res = await api.get('/v1/transparency/checkpoint');
    expect(res.status).toBe(200);
    const checkpoint = res.body;
    expect(checkpoint.treeSize).toBeGreaterThan(firstCheckpoint.treeSize);
    expect(checkpoint.timestamp).toBe('2026-11-24T10:00:00.000Z');

    const jwks = (await api.get('/.well-known/jwks.json')).body;
    const jwk = jwks.keys.find((k: any) => k.kid === checkpoint.kid);
    expect(jwk).toMatchObject({
      issuer: 'certmark',
      kty: 'OKP',
      crv: 'Ed25519',
      kid: platformJwk(ctx.keys.platformSeed).kid,
    });
    const text = `certmark/checkpoint/v1\n${checkpoint.treeSize}\n${checkpoint.rootHash}\n${checkpoint.timestamp}\n`;
    expect(checkpointText(checkpoint)).toBe(text);
    expect(
      verifyEd25519(
        new Uint8Array(Buffer.from(jwk.x, 'base64url')),
        new TextEncoder().encode(text),
        b(checkpoint.signature),
      ),
    ).toBe(true);
    expect(verifyCheckpoint(checkpoint, jwks).ok).toBe(true);

    // Any change to what is signed, or a key that is not the platform's, fails.
    expect(verifyCheckpoint({ ...checkpoint, treeSize: checkpoint.treeSize + 1 }, jwks)).toEqual({
      ok: false,
      problem: 'bad_signature',
    });
    const issuerKid = jwks.keys.find((k: any) => k.issuer !== 'certmark').kid;
    expect(verifyCheckpoint({ ...checkpoint, kid: issuerKid }, jwks)).toEqual({
      ok: false,
      problem: 'unknown_key',
    });
  });

  it('publishes entries whose leaves anyone can recompute, and whose root is the signed root', async () => {
    const checkpoint = (await api.get('/v1/transparency/checkpoint')).body;
    const page = await api.get(`/v1/transparency/entries?start=0&end=${checkpoint.treeSize + 10}`);
    expect(page.status).toBe(200);
    expect(page.body).toMatchObject({
      start: 0,
      end: checkpoint.treeSize,
      treeSize: checkpoint.treeSize,
    });
    const leaves = page.body.entries.map((e: any) => {
      expect(Buffer.from(recomputeLeafHash(e)).toString('base64')).toBe(e.leafHash);
      expect(e).not.toHaveProperty('change');
      return b(e.leafHash);
    });
    expect(Buffer.from(rootHash(leaves)).toString('base64')).toBe(checkpoint.rootHash);
    const middle = await api.get('/v1/transparency/entries?start=2&end=4');
    expect(middle.body.entries.map((e: any) => e.seq)).toEqual([3, 4]);
  });

  it('serves inclusion proofs that verify against the checkpoint', async () => {
    const checkpoint = (await api.get('/v1/transparency/checkpoint')).body;
    const size = checkpoint.treeSize;
    const entries = (await api.get(`/v1/transparency/entries?start=0&end=${size}`)).body.entries;
    for (let index = 0; index < size; index++) {
      const res = await api.get(`/v1/transparency/proof/inclusion?index=${index}&size=${size}`);
      expect(res.status).toBe(200);
      expect(res.body.leafHash).toBe(entries[index].leafHash);
      expect(res.body.rootHash).toBe(checkpoint.rootHash);
      verifyInclusion({
        leafIndex: index,
        treeSize: size,
        leafHash: recomputeLeafHash(entries[index]),
        proof: res.body.proof.map(b),
        root: b(checkpoint.rootHash),
      });
    }
    // and for an older tree
    const old = await api.get(
      `/v1/transparency/proof/inclusion?index=1&size=${firstCheckpoint.treeSize}`,
    );
    verifyInclusion({
      leafIndex: 1,
      treeSize: firstCheckpoint.treeSize,
      leafHash: b(entries[1].leafHash),
      proof: old.body.proof.map(b),
      root: b(firstCheckpoint.rootHash),
    });
  });

  it('serves consistency proofs that verify between two signed checkpoints', async () => {
    const checkpoint = (await api.get('/v1/transparency/checkpoint')).body;
    const res = await api.get(
      `/v1/transparency/proof/consistency?from=${firstCheckpoint.treeSize}&to=${checkpoint.treeSize}`,
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      fromRoot: firstCheckpoint.rootHash,
      toRoot: checkpoint.rootHash,
    });
    verifyConsistency({
      size1: firstCheckpoint.treeSize,
      size2: checkpoint.treeSize,
      root1: b(firstCheckpoint.rootHash),
      root2: b(checkpoint.rootHash),
      proof: res.body.proof.map(b),
    });
    for (let from = 1; from <= checkpoint.treeSize; from++) {
      const p = (
        await api.get(`/v1/transparency/proof/consistency?from=${from}&to=${checkpoint.treeSize}`)
      ).body;
      verifyConsistency({
        size1: from,
        size2: checkpoint.treeSize,
        root1: b(p.fromRoot),
        root2: b(checkpoint.rootHash),
        proof: p.proof.map(b),
      });
    }
  });

  it('answers out-of-range and malformed proof requests with 400', async () => {
    const { treeSize } = (await api.get('/v1/transparency/checkpoint')).body;
    for (const query of [
      `inclusion?index=${treeSize}&size=${treeSize}`,
      `inclusion?index=0&size=${treeSize + 1}`,
      'inclusion?index=0&size=0',
      'inclusion?index=-1&size=1',
      'inclusion?index=a&size=1',
      // Numbers only as decimal digits (a coercing parser reads each of these as 0 or 1).
      'inclusion?index=0x0&size=1',
      'inclusion?index=0e5&size=1',
      'inclusion?index=%200%20&size=1',
      'inclusion?index=&size=1',
      'consistency?from=0b1&to=2',
      'inclusion',
      `consistency?from=2&to=1`,
      `consistency?from=0&to=1`,
      `consistency?from=1&to=${treeSize + 1}`,
    ]) {
      const res = await api.get(`/v1/transparency/proof/${query}`);
      expect(res.status, query).toBe(400);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
    }
    expect((await api.get('/v1/transparency/entries?start=0&end=10001')).status).toBe(400);
    expect((await api.get('/v1/transparency/entries?start=5&end=5')).status).toBe(400);
    expect((await api.get('/v1/transparency/entries')).status).toBe(400);
    expect((await api.get('/v1/transparency/entries?start=00&end=01')).status).toBe(200);
  });

  it('the verifier library accepts the intact log', async () => {
    const jwks = (await api.get('/.well-known/jwks.json')).body;
    const checkpoint = (await api.get('/v1/transparency/checkpoint')).body;
    const entries = (await api.get(`/v1/transparency/entries?start=0&end=${checkpoint.treeSize}`))
      .body.entries;
    const result = verifyAuditLog({ jwks, checkpoint, entries, saved: firstCheckpoint });
    expect(result).toMatchObject({
      ok: true,
      firstTampered: null,
      problems: [],
      rootHash: checkpoint.rootHash,
    });
    // Missing the last entry, or one entry edited, is caught.
    expect(
      verifyAuditLog({ jwks, checkpoint, entries: entries.slice(0, -1) }).problems[0]!.code,
    ).toBe('size_mismatch');
    const edited = entries.map((e: any, i: number) =>
      i === 2 ? { ...e, subjectId: 'someone-else' } : e,
    );
    expect(verifyAuditLog({ jwks, checkpoint, entries: edited }).firstTampered).toEqual({
      seq: 3,
      code: 'leaf_mismatch',
    });
  });

  it('`certmark audit verify` passes on the intact log, saves a checkpoint and checks consistency with it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmark-audit-'));
    try {
      const out: string[] = [];
      const saved = path.join(dir, 'checkpoint.json');
      expect(
        await runAuditCommand(
          ['verify', '--url', BASE, '--save-checkpoint', saved, '--page-size', '3'],
          cliIo(ctx.app, out),
        ),
      ).toBe(0);
      expect(out.join('')).toMatch(/^OK: \d+ entries/);
      await api.post('/v1/reports', { code: 'whatever', description: 'another one' });
      const out2: string[] = [];
      expect(
        await runAuditCommand(
          ['verify', '--url', BASE, '--since-checkpoint', saved],
          cliIo(ctx.app, out2),
        ),
      ).toBe(0);
      expect(out2.join('')).toContain('consistent with the saved checkpoint');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('`certmark audit verify` answers 2 for usage and network errors', async () => {
    const out: string[] = [];
    expect(await runAuditCommand([], cliIo(ctx.app, out))).toBe(2);
    expect(await runAuditCommand(['verify'], cliIo(ctx.app, out))).toBe(2);
    expect(await runAuditCommand(['verify', '--url', 'ftp://x'], cliIo(ctx.app, out))).toBe(2);
    expect(await runAuditCommand(['verify', '--url', BASE, '--bogus'], cliIo(ctx.app, out))).toBe(
      2,
    );
    expect(
      await runAuditCommand(
        ['verify', '--url', BASE, '--since-checkpoint', '/nonexistent/file'],
        cliIo(ctx.app, out),
      ),
    ).toBe(2);
    const offline: AuditCommandIo = {
      ...cliIo(ctx.app, out),
      fetch: async () => Promise.reject(new Error('ECONNREFUSED')),
    };
    expect(await runAuditCommand(['verify', '--url', BASE], offline)).toBe(2);
    const broken: AuditCommandIo = {
      ...cliIo(ctx.app, out),
      fetch: async () => new Response('nope', { status: 503 }),
    };
    expect(await runAuditCommand(['verify', '--url', BASE], broken)).toBe(2);
  });

  it('refuses UPDATE, DELETE and TRUNCATE on audit_log (trigger)', async () => {
    await ctx.services.audit.sync();
    const db = new pg.Client({ connectionString: ctx.databaseUrl });
    await db.connect();
    try {
      const first = `(SELECT entry_id FROM audit_positions WHERE seq = 1)`;
      expect((await db.query(`SELECT 1 FROM audit_log WHERE id = ${first}`)).rowCount).toBe(1);
      // An integrated entry cannot be given another position or leaf.
      await expect(
        db.query(`UPDATE audit_positions SET seq = 999999 WHERE seq = 1`),
      ).rejects.toThrow(/append-only/);
      await expect(
        db.query(`UPDATE audit_positions SET leaf_hash = sha256('x') WHERE seq = 1`),
      ).rejects.toThrow(/append-only/);
      await expect(
        db.query(`UPDATE audit_log SET action = 'x' WHERE id = ${first}`),
      ).rejects.toThrow(/append-only/);
      await expect(db.query(`DELETE FROM audit_log WHERE id = ${first}`)).rejects.toThrow(
        /append-only/,
      );
      await expect(db.query(`DELETE FROM audit_positions WHERE seq = 1`)).rejects.toThrow(
        /append-only/,
      );
      await expect(db.query(`TRUNCATE audit_log`)).rejects.toThrow(/append-only/);
      await expect(db.query(`TRUNCATE audit_positions`)).rejects.toThrow(/append-only/);
    } finally {
      await db.end();
    }
  });

  it('reports exactly the edited entry when a superuser rewrites history behind the trigger', async () => {
    const jwks = (await api.get('/.well-known/jwks.json')).body;
    const before = (await api.get('/v1/transparency/checkpoint')).body;
    const tamperedSeq = 5;
    const db = new pg.Client({ connectionString: ctx.databaseUrl });
    await db.connect();
    try {
      await db.query('BEGIN');
      await db.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update');
      await db.query(
        `UPDATE audit_log SET action = 'issuer.delete'
         WHERE id = (SELECT entry_id FROM audit_positions WHERE seq = $1)`,
        [tamperedSeq],
      );
      await db.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update');
      await db.query('COMMIT');

      const out: string[] = [];
      expect(await runAuditCommand(['verify', '--url', BASE], cliIo(ctx.app, out))).toBe(1);
      expect(out.join('')).toContain(`first tampered entry: seq ${tamperedSeq} (leaf_mismatch)`);
      const { result } = await verifyRemoteAuditLog(cliIo(ctx.app), { baseUrl: BASE });
      expect(result.ok).toBe(false);
      expect(result.firstTampered).toEqual({ seq: tamperedSeq, code: 'leaf_mismatch' });
      expect(result.problems.filter((p) => p.code === 'leaf_mismatch').map((p) => p.seq)).toEqual([
        tamperedSeq,
      ]);

      // Rewriting the leaf hash too leaves each entry self-consistent: a fresh instance (no cached
      // tree head) reads the rewritten leaves, and they no longer yield what the log signed.
      await db.query('BEGIN');
      await db.query('ALTER TABLE audit_positions DISABLE TRIGGER audit_positions_no_update');
      const row = (
        await db.query(
          `SELECT a.*, p.seq FROM audit_log AS a JOIN audit_positions AS p ON p.entry_id = a.id
           WHERE p.seq = $1`,
          [tamperedSeq],
        )
      ).rows[0];
      const leaf = recomputeLeafHash({
        seq: Number(row.seq),
        at: row.at.toISOString(),
        actorKeyId: row.actor_key_id,
        actorRole: row.actor_role,
        signatory: row.signatory,
        action: row.action,
        subjectType: row.subject_type,
        subjectId: row.subject_id,
        changeDigest: row.change_digest,
        leafHash: '',
      });
      await db.query(`UPDATE audit_positions SET leaf_hash = $1 WHERE seq = $2`, [
        Buffer.from(leaf),
        tamperedSeq,
      ]);
      await db.query('ALTER TABLE audit_positions ENABLE TRIGGER audit_positions_no_update');
      await db.query('COMMIT');

      // This instance signed the old root already: its tree head does not move backwards.
      const stale = await verifyRemoteAuditLog(cliIo(ctx.app), { baseUrl: BASE });
      expect(stale.result.problems.map((p) => p.code)).toEqual(['root_mismatch']);

      const signed = async () =>
        Number(
          (await db.query('SELECT count(*) AS n FROM audit_checkpoints')).rows[0]!.n as string,
        );
      const signedBefore = await signed();
      const deps = { db: ctx.handle.db, config: ctx.config, keys: ctx.keys, clock: ctx.clock };
      const fresh = createApp(deps, createServices(deps));
      // It signs nothing more (it once signed the rewritten root: a second history under the
      // log's key), so a check that needs a new checkpoint fails there…
      await expect(verifyRemoteAuditLog(cliIo(fresh), { baseUrl: BASE })).rejects.toThrow(
        /answered 500/,
      );
      expect(await signed()).toBe(signedBefore);
      // …and what it serves of the rewritten log does not match the checkpoint signed before.
      const withSaved = await verifyRemoteAuditLog(cliIo(ctx.app), {
        baseUrl: BASE,
        saved: before,
      });
      expect(withSaved.result.ok).toBe(false);
      expect(verifyCheckpoint(before, jwks).ok).toBe(true);
    } finally {
      await db.end();
    }
  });

  it('the audit log is for supervisors', async () => {
    expect((await api.get('/v1/audit')).status).toBe(401);
    expect((await api.get('/v1/audit', ctx.adminKey)).status).toBe(403);
    expect((await api.get('/v1/audit?page=0', supervisor)).status).toBe(400);
  });
});
