/**
 * Full tiles and full entry bundles never change once they exist (tlog-tiles: "Full tiles are
 * immutable"), so the bytes of one can be served again without asking the database, even whether
 * it exists. A bounded in-memory cache of them, least recently used first out. Partial tiles are
 * never kept: the full tile replaces them.
 */
export class ImmutableTileCache {
  readonly #tiles = new Map<string, Uint8Array>();
  #bytes = 0;

  /** @param maxBytes what the cache may hold; a tile of 256 hashes is 8 KiB, a bundle more. */
  constructor(private readonly maxBytes = 32 * 1024 * 1024) {}

  get(key: string): Uint8Array | undefined {
    const tile = this.#tiles.get(key);
    if (tile) {
      // Most recently used last: Map keeps insertion order.
      this.#tiles.delete(key);
      this.#tiles.set(key, tile);
    }
    return tile;
  }

  set(key: string, tile: Uint8Array): void {
    if (tile.length > this.maxBytes || this.#tiles.has(key)) return;
    this.#tiles.set(key, tile);
    this.#bytes += tile.length;
    for (const [oldest, bytes] of this.#tiles) {
      if (this.#bytes <= this.maxBytes) break;
      this.#tiles.delete(oldest);
      this.#bytes -= bytes.length;
    }
  }
}
