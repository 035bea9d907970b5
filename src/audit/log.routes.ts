import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { notFound, validationFailed } from '../errors';
import { acceptsEncoding } from '../http/accept';
import { createRouter, defineRoute, problems, publicAccess } from '../http/openapi';
import type { AuditService } from './audit.service';
import { ImmutableTileCache } from './tile-cache';
import { parseTilePath, TILE_WIDTH } from './tiles';

const gzipAsync = promisify(gzip);

/**
 * The audit log as a C2SP transparency log, under `/log`: the checkpoint (tlog-checkpoint, a signed
 * note) and the log's note verifier key. Witnesses and monitors read these; the JSON views under
 * /v1/transparency are for the certmark CLI and people.
 */

const TEXT = 'text/plain; charset=utf-8';

/** tlog-tiles: the checkpoint "is mutable, so its headers SHOULD prevent caching beyond a few seconds". */
const CHECKPOINT_CACHE = 'public, max-age=5';

const text = (description: string, example: string) => ({
  description,
  content: { [TEXT]: { schema: z.string().openapi({ example }) } },
});

const checkpoint = defineRoute({
  operationId: 'getLogCheckpoint',
  method: 'get',
  path: '/log/checkpoint',
  security: publicAccess,
  tags: ['Audit and transparency'],
  summary: 'The audit log’s checkpoint: a C2SP signed note (tlog-checkpoint) (public)',
  description:
    'The note text is the origin line (`LOG_ORIGIN`), the tree size in decimal and the RFC 6962 root ' +
    'hash in base64, each followed by a newline; then a blank line and the log’s Ed25519 signature ' +
    'line `— <origin> base64(key ID ‖ signature)`, verifiable with the key of `GET /log/key`. ' +
    'With witnesses (`WITNESSES`), the witnesses’ cosignatures of the checkpoint follow as further ' +
    'signature lines (C2SP tlog-cosignature, Ed25519 cosignature/v1); with `WITNESS_QUORUM` k > 0 ' +
    'this is the latest checkpoint that k witnesses have cosigned. Cached for 5 seconds at most.',
  responses: {
    200: text(
      'The signed checkpoint',
      'certmark.example.org/log\n1024\nq6UJ8T3vGk1yRZ0v1cHqJc0yq7DpB6gM2bq2fT0zJ8Q=\n\n— certmark.example.org/log AbCdEf…\n',
    ),
  },
});

const verifierKey = defineRoute({
  operationId: 'getLogVerifierKey',
  method: 'get',
  path: '/log/key',
  security: publicAccess,
  tags: ['Audit and transparency'],
  summary: 'The note verifier key of the log’s checkpoints (public)',
  description:
    '`<origin>+<key ID, 8 hex digits>+<base64(0x01 ‖ Ed25519 public key)>`, the format of ' +
    'golang.org/x/mod/sumdb/note and C2SP signed-note: give it to a witness or a monitor.',
  responses: {
    200: text(
      'The verifier key',
      'certmark.example.org/log+4f3a2b1c+AU1x2y3z4A5B6C7D8E9F0a1b2c3d4e5f6g7h8i9j0k1l',
    ),
  },
});

const OCTETS = 'application/octet-stream';
/** tlog-tiles: tiles are immutable, "so its caching headers SHOULD be long-lived". */
const FULL_TILE_CACHE = 'public, max-age=31536000, immutable';
/** A partial tile never changes either, but the log may stop serving it once the full one exists. */
const PARTIAL_TILE_CACHE = 'public, max-age=3600';

const tilePathParam = z.object({
  tilePath: z.string().openapi({
    param: { name: 'tilePath', in: 'path' },
    description:
      '`<N>[.p/<W>]`: the tile index in 3-digit path elements, all but the last prefixed `x` ' +
      '(1234067 → `x001/x234/067`), and for a partial tile its width 1–255',
    example: 'x001/x234/067.p/17',
  }),
});

const binary = (description: string) => ({
  description,
  content: { [OCTETS]: { schema: z.string().openapi({ format: 'binary' }) } },
});

const tileProblems = problems({
  400: 'The path is not a tile path as tlog-tiles writes it (`validation_failed`)',
  404: 'The tile is beyond the published tree (`not_found`)',
});

const hashTile = defineRoute({
  operationId: 'getLogTile',
  method: 'get',
  path: '/log/tile/{level}/{tilePath}',
  security: publicAccess,
  tags: ['Audit and transparency'],
  summary: 'A Merkle tree tile (C2SP tlog-tiles) (public)',
  description:
    'The hashes of tree level 8·L, 32 bytes each: 256 in a full tile (immutable), W in a partial ' +
    'tile. Level 0 holds leaf hashes, SHA-256(0x00 ‖ entry); level L the roots of the complete ' +
    'subtrees of 256^L leaves. Tiles exist up to the size of the latest checkpoint.',
  request: {
    params: z
      .object({
        level: z
          .string()
          .openapi({ param: { name: 'level', in: 'path' }, description: '0–63', example: '0' }),
      })
      .merge(tilePathParam),
  },
  responses: { 200: binary('The tile'), ...tileProblems },
});

const entryBundle = defineRoute({
  operationId: 'getLogEntryBundle',
  method: 'get',
  path: '/log/tile/entries/{tilePath}',
  security: publicAccess,
  tags: ['Audit and transparency'],
  summary: 'An entry bundle (C2SP tlog-tiles) (public)',
  description:
    'The entries of the level-0 tile of the same index, each after its length as a big-endian ' +
    'uint16. An entry is the canonical JSON of {seq, at, actorKeyId, actorRole, signatory, action, ' +
    'subjectType, subjectId, changeDigest} (keys sorted, no whitespace, UTF-8); its leaf hash is ' +
    'SHA-256(0x00 ‖ entry). See the README, "The transparency log".',
  request: { params: tilePathParam },
  responses: { 200: binary('The entry bundle'), ...tileProblems },
});

/**
 * Tile paths hold slashes, which an OpenAPI path parameter cannot: each route is documented with
 * defineRoute and answered by a Hono route whose parameter matches the rest of the path.
 */
function tileAddress(path: string) {
  const address = parseTilePath(path);
  if (!address) {
    throw validationFailed(
      [{ path: 'tilePath', message: 'must be <N>[.p/<W>] in 3-digit elements, level 0–63' }],
      'not a tile path as tlog-tiles writes it',
    );
  }
  return address;
}

const tileHeaders = (width: number) => ({
  'content-type': OCTETS,
  'cache-control': width === TILE_WIDTH ? FULL_TILE_CACHE : PARTIAL_TILE_CACHE,
});

async function answerHashTile(c: Context, service: AuditService, path: string) {
  const address = tileAddress(path);
  if (address.level === 'entries') throw notFound('Tile');
  const tile = await service.tile({ ...address, level: address.level });
  if (!tile) throw notFound('Tile');
  return c.body(tile as Uint8Array<ArrayBuffer>, 200, tileHeaders(address.width));
}

/**
 * An entry bundle, gzip-encoded for a client that accepts it (tlog-tiles: "Entry bundles SHOULD be
 * compressed at the HTTP layer"; JSON entries shrink several times, hashes would not). A bundle
 * never changes, so it is compressed once and kept in `compressed`.
 */
async function answerEntryBundle(
  c: Context,
  service: AuditService,
  path: string,
  compressed: ImmutableTileCache,
) {
  const address = tileAddress(`entries/${path}`);
  const bundle = await service.entryBundle(address);
  if (!bundle) throw notFound('Tile');
  const headers = { ...tileHeaders(address.width), vary: 'accept-encoding' };
  if (!acceptsEncoding(c.req.header('accept-encoding'), 'gzip')) {
    return c.body(bundle as Uint8Array<ArrayBuffer>, 200, headers);
  }
  // A bundle's path names its bytes for good (a partial one its first W entries), so any is kept.
  let gzipped = compressed.get(path);
  if (!gzipped) {
    gzipped = new Uint8Array(await gzipAsync(bundle));
    compressed.set(path, gzipped);
  }
  return c.body(gzipped as Uint8Array<ArrayBuffer>, 200, {
    ...headers,
    'content-encoding': 'gzip',
  });
}

export function logRoutes(service: AuditService) {
  const router = createRouter();
  // Bundles never change: each is compressed once (8 MiB of them kept, a few hundred).
  const compressedBundles = new ImmutableTileCache(8 * 1024 * 1024);
  router.openAPIRegistry.registerPath(entryBundle);
  router.openAPIRegistry.registerPath(hashTile);
  router.get('/log/tile/entries/:tilePath{.+}', (c) =>
    answerEntryBundle(c, service, c.req.param('tilePath'), compressedBundles),
  );
  router.get('/log/tile/:level{[0-9]+}/:tilePath{.+}', (c) =>
    answerHashTile(c, service, `${c.req.param('level')}/${c.req.param('tilePath')}`),
  );
  return router
    .openapi(checkpoint, async (c) =>
      c.text(await service.checkpointNote(), 200, { 'cache-control': CHECKPOINT_CACHE }),
    )
    .openapi(verifierKey, (c) =>
      c.text(service.verifierKey(), 200, { 'cache-control': 'public, max-age=86400' }),
    );
}
