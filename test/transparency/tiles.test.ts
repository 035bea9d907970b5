import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAuditEntry } from '../../src/audit/audit.queries';
import { parseCheckpointBody } from '../../src/audit/checkpoint-note';
import { formatTileIndex, formatTilePath, parseTilePath } from '../../src/audit/tiles';
import { systemActor } from '../../src/auth/principal';
import {
  consistencyProof,
  inclusionProof,
  leafHash,
  rootHash,
  verifyConsistency,
  verifyInclusion,
} from '../../src/crypto/merkle';
import { openNote, parseVerifierKey } from '../../src/crypto/signed-note';
import { createTestContext, type TestContext } from '../helpers';

const vectorsDir = fileURLToPath(new URL('../vectors/merkle/inclusion/', import.meta.url));

/**
 * What an outside mirror does with tiles alone: split level-0 tiles into leaf hashes, check every
 * higher-level hash against them, and compute proofs from the leaves with RFC 6962 (src/crypto/merkle
 * implements it, and is itself tested on transparency-dev's vectors).
 */
function leavesOfTile(tile: Uint8Array): Uint8Array[] {
  expect(tile.length % 32).toBe(0);
  return Array.from({ length: tile.length / 32 }, (_, i) => tile.slice(i * 32, (i + 1) * 32));
}

/** The big-endian uint16 length-prefixed entries of a bundle. */
function entriesOfBundle(bundle: Uint8Array): Uint8Array[] {
  const entries: Uint8Array[] = [];
  for (let offset = 0; offset < bundle.length;) {
    const length = (bundle[offset]! << 8) | bundle[offset + 1]!;
    entries.push(bundle.slice(offset + 2, offset + 2 + length));
    offset += 2 + length;
  }
  return entries;
}

describe('tile paths (tlog-tiles)', () => {
  it('writes and reads the spec’s examples, and refuses every other spelling', () => {
    expect(formatTileIndex(1234067)).toBe('x001/x234/067');
    expect(formatTileIndex(0)).toBe('000');
    expect(parseTilePath('0/x001/x234/067')).toEqual({ level: 0, index: 1234067, width: 256 });
    expect(parseTilePath('1/000.p/17')).toEqual({ level: 1, index: 0, width: 17 });
    expect(parseTilePath('entries/005.p/255')).toEqual({ level: 'entries', index: 5, width: 255 });
    expect(formatTilePath({ level: 2, index: 1000, width: 1 })).toBe('2/x001/000.p/1');
    for (const bad of [
      '00/000',
      '64/000',
      '0/0',
      '0/0000',
      '0/x000/001',
      '0/001/002',
      '0/000.p/0',
      '0/000.p/256',
      '0/000.p/017',
      '0/000.p/',
      'entries/abc',
      '0/x001',
      '0/000/',
      'level/000',
    ]) {
      expect(parseTilePath(bad), bad).toBeUndefined();
    }
  });

  it('reproduces transparency-dev’s inclusion vectors from a level-0 tile of the reference tree', () => {
    const listJson = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
        d.isDirectory()
          ? listJson(join(dir, d.name))
          : d.name.endsWith('.json')
            ? [join(dir, d.name)]
            : [],
      );
    const happy = listJson(vectorsDir)
      .map((f) => JSON.parse(readFileSync(f, 'utf8')))
      .filter((v) => !v.wantErr && v.treeSize === 8 && v.desc === 'happy path');
    expect(happy.length).toBeGreaterThanOrEqual(2);
    // The 8-leaf reference tree of RFC 6962's test data (transparency-dev/merkle testonly): the
    // leaf inputs whose tree the vectors' roots and proofs are about.
    const inputs = [
      '',
      '00',
      '10',
      '2021',
      '3031',
      '40414243',
      '5051525354555657',
      '606162636465666768696a6b6c6d6e6f',
    ];
    const tile = new Uint8Array(8 * 32);
    inputs.forEach((hex, i) => tile.set(leafHash(new Uint8Array(Buffer.from(hex, 'hex'))), i * 32));
    const leaves = leavesOfTile(tile);
    for (const v of happy) {
      expect(Buffer.from(leaves[v.leafIdx]!).toString('base64')).toBe(v.leafHash);
      expect(Buffer.from(rootHash(leaves)).toString('base64')).toBe(v.root);
      expect(
        inclusionProof(leaves, v.leafIdx).map((p) => Buffer.from(p).toString('base64')),
      ).toEqual(v.proof);
    }
  });
});

describe('GET /log/tile/… : a mirror rebuilds the log and every proof from tiles alone', () => {
  let ctx: TestContext;
  const get = async (path: string) => ctx.app.request(path);
  const bytesOf = async (res: Response) => new Uint8Array(await res.arrayBuffer());

  beforeAll(async () => {
    ctx = await createTestContext();
    // 600 entries: two full level-0 tiles and a partial one, a partial level-1 tile.
    await ctx.handle.db.transaction(async (tx) => {
      for (let i = 0; i < 600; i++) {
        await appendAuditEntry(tx, new Date(Date.UTC(2026, 10, 24, 10, 0, i % 60, i)), {
          actor: systemActor,
          action: 'test.tile',
          subjectType: 'test',
          subjectId: `tile-${i}`,
          signatory: i % 3 ? null : { name: `签署人 ${i}` },
          change: { i },
        });
      }
    });
    await ctx.services.audit.sync();
  });
  afterAll(() => ctx.close());

  it('serves full and partial tiles and bundles that recompute to the signed root', async () => {
    const key = parseVerifierKey(await (await get('/log/key')).text());
    const checkpoint = parseCheckpointBody(
      openNote(await (await get('/log/checkpoint')).text(), [key]).text,
    );
    const size = checkpoint.size;
    expect(size).toBeGreaterThanOrEqual(600);

    const leaves: Uint8Array[] = [];
    const fullTiles = Math.floor(size / 256);
    for (let n = 0; n <= fullTiles; n++) {
      const width = n < fullTiles ? 256 : size % 256;
      if (width === 0) break;
      const path = formatTilePath({ level: 0, index: n, width });
      const res = await get(`/log/tile/${path}`);
      expect(res.status, `${path} ${res.status === 200 ? '' : await res.clone().text()}`).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/octet-stream');
      if (width === 256) expect(res.headers.get('cache-control')).toContain('immutable');
      else expect(res.headers.get('cache-control')).not.toContain('immutable');
      const tileLeaves = leavesOfTile(await bytesOf(res));
      expect(tileLeaves).toHaveLength(width);

      const bundle = await get(
        `/log/tile/${formatTilePath({ level: 'entries', index: n, width })}`,
      );
      expect(bundle.status, await bundle.clone().text()).toBe(200);
      const entries = entriesOfBundle(await bytesOf(bundle));
      expect(entries).toHaveLength(width);
      // Each entry hashes to its leaf (RFC 6962): the documented encoding is the whole truth.
      entries.forEach((entry, i) => {
        expect(Buffer.from(leafHash(entry))).toEqual(Buffer.from(tileLeaves[i]!));
        const fields = JSON.parse(new TextDecoder().decode(entry));
        expect(fields.seq).toBe(n * 256 + i + 1);
        expect(Object.keys(fields)).toEqual([...Object.keys(fields)].sort());
      });
      leaves.push(...tileLeaves);
    }
    expect(Buffer.from(rootHash(leaves))).toEqual(Buffer.from(checkpoint.root));

    // Level 1: the partial tile's hashes are the roots of the full level-0 tiles.
    const level1 = await get(`/log/tile/1/000.p/${fullTiles}`);
    expect(level1.status).toBe(200);
    leavesOfTile(await bytesOf(level1)).forEach((hash, i) =>
      expect(Buffer.from(hash)).toEqual(
        Buffer.from(rootHash(leaves.slice(i * 256, (i + 1) * 256))),
      ),
    );

    // Proofs from the mirror verify against the signed root, and equal the service's own.
    for (const index of [0, 255, 256, 511, size - 1]) {
      const proof = inclusionProof(leaves, index);
      verifyInclusion({
        leafIndex: index,
        treeSize: size,
        leafHash: leaves[index]!,
        proof,
        root: checkpoint.root,
      });
      const served = (await (
        await get(`/v1/transparency/proof/inclusion?index=${index}&size=${size}`)
      ).json()) as { proof: string[] };
      expect(served.proof).toEqual(proof.map((p) => Buffer.from(p).toString('base64')));
    }
    for (const from of [1, 256, 300]) {
      verifyConsistency({
        size1: from,
        size2: size,
        root1: rootHash(leaves, from),
        root2: checkpoint.root,
        proof: consistencyProof(leaves, from, size),
      });
    }
  });

  it('gzips entry bundles for a client that accepts it, full and partial alike', async () => {
    const size = Number((await (await get('/log/checkpoint')).text()).split('\n')[1]);
    for (const path of ['000', `002.p/${size % 256}`]) {
      const plain = await get(`/log/tile/entries/${path}`);
      expect(plain.headers.get('content-encoding')).toBeNull();
      expect(plain.headers.get('vary')).toBe('accept-encoding');
      const raw = await bytesOf(plain);
      for (let round = 0; round < 2; round++) {
        // Asked twice: compressed the first time, kept for the second; the same bytes either way.
        const zipped = await ctx.app.request(`/log/tile/entries/${path}`, {
          headers: { 'accept-encoding': 'br, gzip;q=0.8' },
        });
        expect(zipped.status).toBe(200);
        expect(zipped.headers.get('content-encoding')).toBe('gzip');
        const body = await bytesOf(zipped);
        expect(body.length).toBeLessThan(raw.length / 2);
        expect(Buffer.from(gunzipSync(body))).toEqual(Buffer.from(raw));
      }
    }
    const refused = await ctx.app.request('/log/tile/entries/000', {
      headers: { 'accept-encoding': 'gzip;q=0, identity' },
    });
    expect(refused.headers.get('content-encoding')).toBeNull();
    // Hashes do not compress: tiles go as they are.
    const tile = await ctx.app.request('/log/tile/0/000', {
      headers: { 'accept-encoding': 'gzip' },
    });
    expect(tile.headers.get('content-encoding')).toBeNull();
  });

  it('answers 404 beyond the published tree and 400 for a path tlog-tiles does not write', async () => {
    const size = Number((await (await get('/log/checkpoint')).text()).split('\n')[1]);
    const partial = size % 256;
    expect((await get(`/log/tile/0/${formatTileIndex(Math.floor(size / 256))}`)).status).toBe(404);
    expect(
      (await get(`/log/tile/0/${formatTileIndex(Math.floor(size / 256))}.p/${partial + 1}`)).status,
    ).toBe(404);
    expect((await get('/log/tile/1/000')).status).toBe(404);
    expect((await get('/log/tile/2/000.p/1')).status).toBe(404);
    expect((await get('/log/tile/entries/x001/000')).status).toBe(404);
    for (const bad of [
      '/log/tile/0/0',
      '/log/tile/0/000.p/0',
      '/log/tile/64/000',
      '/log/tile/entries/000.p/256',
    ]) {
      const res = await get(bad);
      expect(res.status, bad).toBe(400);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(((await res.json()) as { code: string }).code).toBe('validation_failed');
    }
  });

  it('serves only what a checkpoint published: new entries appear in tiles after sequencing', async () => {
    const before = Number((await (await get('/log/checkpoint')).text()).split('\n')[1]);
    await ctx.handle.db.transaction((tx) =>
      appendAuditEntry(tx, new Date(), {
        actor: systemActor,
        action: 'test.late',
        subjectType: 'test',
        subjectId: 'late',
      }),
    );
    const width = (before % 256) + 1;
    const path = `/log/tile/0/${formatTileIndex(Math.floor(before / 256))}.p/${width}`;
    expect((await get(path)).status).toBe(404);
    await ctx.services.audit.sync();
    expect((await get(path)).status).toBe(200);
  });
});
