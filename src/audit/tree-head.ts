import {
  copyOfHash,
  HASH_LENGTH,
  MerkleAccumulator,
  nodeHash,
  type LeafRange,
} from '../crypto/merkle';

/** Reads the leaf hashes of leaves [from, to), in order; may return fewer at the end of the log. */
export type LeafReader = (from: number, to: number) => Promise<Uint8Array[]>;

/** Leaves per cached subtree: 2^10, so a million-leaf log keeps ~1,000 roots (32 KB). */
export const DEFAULT_CHUNK_LEAVES = 1024;
const READ_BATCH = 50_000;

function isPowerOfTwo(n: number): boolean {
  if (!Number.isSafeInteger(n) || n < 1) return false;
  while (n % 2 === 0) n /= 2;
  return n === 1;
}

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * The log's Merkle tree as this instance has read it, append-only: the root of every complete,
 * aligned chunk of {@link DEFAULT_CHUNK_LEAVES} leaves and of every perfect subtree of chunks, and
 * the leaves of the last, incomplete chunk. A perfect subtree never changes once complete, so
 * nothing here ever needs invalidating; the tree head and any MTH(D[start:end]) are built from
 * those roots plus at most a chunk's worth of leaves at each ragged edge — a checkpoint over four
 * million entries costs a third of a millisecond, not a pass over every leaf or every chunk.
 * Catching up reads only the leaves appended since.
 */
export class TreeHead {
  /**
   * `#levels[k][i]`: the root of 2^k complete chunks from chunk i·2^k on, kept as they complete, so
   * the perfect subtrees a root or a proof is made of are looked up, not rehashed (rehashing them
   * cost a pass 11 ms at 4 million entries, growing with the log). `#levels[0]` are the chunk roots.
   */
  readonly #levels: Uint8Array[][] = [[]];
  /** Leaves after the last complete chunk (fewer than chunkLeaves), copied. */
  #tail: Uint8Array[] = [];
  /** The same leaves folded as they arrive: the tail's root in O(log n), not a pass over it. */
  #tailTree = new MerkleAccumulator();
  #pending: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly read: LeafReader,
    private readonly chunkLeaves = DEFAULT_CHUNK_LEAVES,
  ) {
    if (!isPowerOfTwo(chunkLeaves)) throw new RangeError('chunkLeaves must be a power of two');
  }

  get size(): number {
    return this.#levels[0]!.length * this.chunkLeaves + this.#tail.length;
  }

  /**
   * Reads the leaves appended since the last call; returns the tree's size and root. Serialised.
   * `appended` is leaves the caller has just written from index `from` on (concatenated hashes, as
   * the sequencer stores them): when they start where this tree ends they are taken as they are,
   * without reading them back, and the tree stops there; otherwise they are read like any other.
   */
  advance(appended?: { from: number; leaves: Uint8Array }): Promise<{
    size: number;
    root: Uint8Array;
  }> {
    const run = this.#pending.then(async () => {
      if (appended && appended.from === this.size) {
        for (let at = 0; at < appended.leaves.length; at += HASH_LENGTH) {
          this.#append(appended.leaves.subarray(at, at + HASH_LENGTH));
        }
      } else {
        for (;;) {
          const hashes = await this.read(this.size, this.size + READ_BATCH);
          if (hashes.length === 0) break;
          for (const hash of hashes) this.#append(hash);
        }
      }
      const size = this.size;
      return {
        size,
        root: size === 0 ? new MerkleAccumulator().root() : await this.rangeRoot(0, size),
      };
    });
    this.#pending = run.catch(() => {});
    return run;
  }

  #append(hash: Uint8Array): void {
    this.#tailTree.append(hash); // first: it refuses a hash that is not 32 bytes
    this.#tail.push(copyOfHash(hash));
    if (this.#tail.length === this.chunkLeaves) {
      this.#completeChunk(this.#tailTree.root());
      this.#tail = [];
      this.#tailTree = new MerkleAccumulator();
    }
  }

  /**
   * MTH(D[start:end]) (RFC 9162 §2.1.1), from cached chunk roots where the range covers complete
   * aligned chunks, from the leaves elsewhere. Correct for any range; fast for the ranges proofs
   * are made of, which are aligned by construction.
   */
  async rangeRoot(start: number, end: number): Promise<Uint8Array> {
    const n = end - start;
    if (n < 1) throw new RangeError('an empty range has no subtree root');
    const c = this.chunkLeaves;
    const cached = this.#levels[0]!.length * c;
    if (n >= c && isPowerOfTwo(n) && start % n === 0 && end <= cached) {
      return this.#combineChunks(start / c, n / c);
    }
    if (n <= c) {
      if (start === cached && end === this.size) return this.#tailTree.root();
      if (start >= cached && end <= this.size)
        return rootOf(this.#tail.slice(start - cached, end - cached));
      return rootOf(await this.#readLeaves(start, end));
    }
    const k = largestPowerOfTwoBelow(n);
    return nodeHash(await this.rangeRoot(start, start + k), await this.rangeRoot(start + k, end));
  }

  /** The roots of `ranges`, in order. */
  async rangeRoots(ranges: readonly LeafRange[]): Promise<Uint8Array[]> {
    const roots: Uint8Array[] = [];
    for (const [start, end] of ranges) roots.push(await this.rangeRoot(start, end));
    return roots;
  }

  /** Adds a complete chunk's root, and the root of every perfect subtree it completes. */
  #completeChunk(root: Uint8Array): void {
    let hash = root;
    for (let k = 0; ; k++) {
      const level = (this.#levels[k] ??= []);
      // Kept for the process's life: a buffer of its own, not a view pinning a slab of 8 KiB
      // (src/crypto/merkle.ts) for 32 bytes (8 MB a million leaves instead of 32 KB).
      level.push(Uint8Array.from(hash));
      if (level.length % 2 === 1) return;
      hash = nodeHash(level.at(-2)!, hash);
    }
  }

  /** MTH of `count` (a power of two) consecutive chunks from `first` (a multiple of `count`). */
  #combineChunks(first: number, count: number): Uint8Array {
    const k = Math.log2(count);
    return this.#levels[k]![first / count]!;
  }

  async #readLeaves(start: number, end: number): Promise<Uint8Array[]> {
    const leaves: Uint8Array[] = [];
    for (let from = start; from < end;) {
      const hashes = await this.read(from, Math.min(from + READ_BATCH, end));
      if (hashes.length === 0) throw new RangeError(`the log has no leaf ${from}`);
      leaves.push(...hashes);
      from += hashes.length;
    }
    return leaves;
  }
}

function rootOf(leaves: readonly Uint8Array[]): Uint8Array {
  const tree = new MerkleAccumulator();
  for (const leaf of leaves) tree.append(leaf);
  return tree.root();
}
