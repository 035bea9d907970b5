/**
 * C2SP tlog-tiles paths and shapes, pure. A tile is 256 consecutive Merkle tree hashes of one
 * level: at level 0 the leaf hashes, at level l the roots of the perfect subtrees of 256^l leaves.
 * Entry bundles carry the entries whose leaf hashes make the level-0 tile of the same index.
 */

/** Hashes (or entries) in a full tile (tlog-tiles "Merkle Tree"). */
export const TILE_WIDTH = 256;
/** Levels are 0..63 (tlog-tiles); a tree of 2^53 leaves never gets past level 6. */
export const MAX_TILE_LEVEL = 63;

export interface TileAddress {
  /** A level 0..63, or 'entries' for an entry bundle. */
  level: number | 'entries';
  index: number;
  /** 1..255 for a partial tile, 256 for a full one. */
  width: number;
}

/** `1234067` → `x001/x234/067` (tlog-tiles: 3-digit elements, all but the last prefixed `x`). */
export function formatTileIndex(index: number): string {
  let digits = String(index);
  digits = digits.padStart(Math.ceil(digits.length / 3) * 3, '0');
  const groups = digits.match(/\d{3}/g)!;
  return groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join('/');
}

/** The path of a tile below `<prefix>/tile/`, e.g. `0/x001/234.p/17` or `entries/005`. */
export function formatTilePath(address: TileAddress): string {
  const partial = address.width < TILE_WIDTH ? `.p/${address.width}` : '';
  return `${address.level}/${formatTileIndex(address.index)}${partial}`;
}

const TILE_PATH =
  /^(entries|0|[1-9][0-9]?)\/((?:x[0-9]{3}\/)*[0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/;

/**
 * Parses `<L>/<N>[.p/<W>]` (or `entries/<N>[.p/<W>]`) exactly as tlog-tiles writes it: L without
 * leading zeroes and at most 63, N in canonical 3-digit elements (no superfluous `x000/`), W in
 * 1..255 without leading zeroes. Undefined for anything else.
 */
export function parseTilePath(path: string): TileAddress | undefined {
  const match = TILE_PATH.exec(path);
  if (!match) return undefined;
  const level = match[1] === 'entries' ? 'entries' : Number(match[1]);
  if (level !== 'entries' && level > MAX_TILE_LEVEL) return undefined;
  const index = Number(match[2]!.replaceAll('x', '').replaceAll('/', ''));
  if (!Number.isSafeInteger(index) || formatTileIndex(index) !== match[2]) return undefined;
  const width = match[3] === undefined ? TILE_WIDTH : Number(match[3]);
  if (width < 1 || width >= TILE_WIDTH + (match[3] === undefined ? 1 : 0)) return undefined;
  return { level, index, width };
}

/** Leaves under one hash of a level-`level` tile: 256^level. */
export function leavesPerHash(level: number): number {
  return TILE_WIDTH ** level;
}

/**
 * Whether the tile exists in a tree of `treeSize` leaves: every hash it holds is the root of a
 * complete subtree of the tree (so its content can never change). A full tile needs 256 of them;
 * a partial tile of width W needs W, and must not be full-width.
 */
export function tileExists(address: TileAddress, treeSize: number): boolean {
  const level = address.level === 'entries' ? 0 : address.level;
  const span = leavesPerHash(level);
  const first = address.index * TILE_WIDTH;
  // Number of complete hashes available at this level: floor(treeSize / 256^level).
  const available = Math.floor(treeSize / span);
  return Number.isSafeInteger(first + address.width) && first + address.width <= available;
}
