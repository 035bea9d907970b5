/**
 * RFC 9162 (Certificate Transparency 2.0, same tree as RFC 6962) Merkle tree over SHA-256, for the
 * append-only audit log: hashing, tree heads, inclusion and consistency proofs, and strict
 * verifiers. Pure: no I/O, no state beyond what a caller holds.
 *
 * Tree sizes and indices are JavaScript numbers, so every bit operation below is written as
 * arithmetic (`% 2`, `/ 2`): the `>>`/`&` operators truncate to 32 bits and would silently give
 * wrong answers past 2^32 leaves.
 */
import * as nodeCrypto from 'node:crypto';

/** SHA-256 output length; every leaf hash, node hash, root and proof component has it. */
export const HASH_LENGTH = 32;

/** Why a proof was refused. A closed set, so callers (and tests) can branch on it. */
export type MerkleProofErrorCode =
  /** An index or size is not a non-negative safe integer. */
  | 'invalid_size'
  /** A leaf hash, root or proof component is not 32 bytes. */
  | 'invalid_hash'
  /** leaf_index >= tree_size (RFC 9162 §2.1.3.2 step 1), which includes every empty-tree proof. */
  | 'index_out_of_range'
  /** The first tree is larger than the second: a log can only grow. */
  | 'size_order'
  /** A consistency proof from the empty tree, which proves nothing. */
  | 'empty_tree'
  /** The proof has more or fewer components than the sizes call for. */
  | 'wrong_proof_size'
  /** The root the proof leads to is not the root given. */
  | 'root_mismatch';

export class MerkleProofError extends Error {
  override readonly name = 'MerkleProofError';
  constructor(
    readonly code: MerkleProofErrorCode,
    message: string,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------
// Hashing (RFC 9162 §2.1.1)
// ---------------------------------------------------------------------------------------------

/** Domain-separation prefixes (RFC 9162 §2.1.1): a leaf can never be read as an interior node. */
const LEAF_PREFIX = 0x00;
const NODE_PREFIX = 0x01;
/** LEAF_PREFIX as the one character that UTF-8 encodes to that byte, to prefix a leaf's text. */
const LEAF_PREFIX_TEXT = String.fromCharCode(LEAF_PREFIX);

/**
 * Hashes and copies of hashes are 32-byte views carved from shared 8 KiB slabs: a typed array of
 * its own costs more to allocate than SHA-256 of a node costs to compute, and a digest returned as
 * a Buffer more than one returned as a string (measured on Node 20: a node hash 1.15 µs as a
 * Buffer wrapped in a Uint8Array, 0.73 µs as a latin1 string written into a slab). A slab is kept
 * alive by any hash carved from it: a caller that keeps a hash for long copies it into a buffer
 * of its own (`Uint8Array.from`), or one kept hash pins 8 KiB.
 */
const SLAB_BYTES = 8192;
let slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
let slabUsed = 0;

/** A fresh 32-byte view for a hash, `digest` (one latin1 character a byte) written into it. */
function carveHash(digest?: string): Uint8Array {
  if (slabUsed + HASH_LENGTH > SLAB_BYTES) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    slabUsed = 0;
  }
  const at = slabUsed;
  slabUsed += HASH_LENGTH;
  if (digest !== undefined) slab.write(digest, at, 'latin1');
  return new Uint8Array(slab.buffer, slab.byteOffset + at, HASH_LENGTH);
}

// `crypto.hash` (Node ≥ 20.12) is a one-shot call cheaper than createHash for the small inputs a
// tree hashes; fall back on older Node 20 releases. A string is hashed as its UTF-8 bytes.
const sha256Latin1: (input: Uint8Array | string) => string =
  typeof nodeCrypto.hash === 'function'
    ? (input) => nodeCrypto.hash('sha256', input, 'binary')
    : (input) => nodeCrypto.createHash('sha256').update(input).digest('binary');

/** SHA-256 as a plain Uint8Array, so every hash this module returns has the same type. */
function sha256(input: Uint8Array | string): Uint8Array {
  return carveHash(sha256Latin1(input));
}

/** A copy of a hash that no later change to `hash`'s bytes can reach. */
export function copyOfHash(hash: Uint8Array): Uint8Array {
  const copy = carveHash();
  copy.set(hash);
  return copy;
}

/** MTH({}) = SHA-256() — the root of the empty tree (RFC 9162 §2.1.1). */
const EMPTY_TREE_ROOT: Uint8Array = sha256(new Uint8Array(0));

/**
 * The hash of one log entry: SHA-256(0x00 || data) (RFC 9162 §2.1.1).
 *
 * @example
 * const entryHash = leafHash(new TextEncoder().encode(canonicalJson));
 */
export function leafHash(data: Uint8Array): Uint8Array {
  if (!(data instanceof Uint8Array)) throw new TypeError('leaf data must be a Uint8Array');
  const input = new Uint8Array(1 + data.length);
  input[0] = LEAF_PREFIX;
  input.set(data, 1);
  return sha256(input);
}

/** {@link leafHash} of a text's UTF-8 bytes (SHA-256 of 0x00 then the text, hashed as one string). */
export function leafHashOfText(text: string): Uint8Array {
  return sha256(LEAF_PREFIX_TEXT + text);
}

/**
 * {@link leafHashOfText} written into `target` at `offset` (32 bytes): a batch's leaf hashes go
 * straight into the one array that carries them, with no array of their own each.
 */
export function writeLeafHashOfText(text: string, target: Buffer, offset: number): void {
  if (offset < 0 || offset + HASH_LENGTH > target.length)
    throw new RangeError('no room for a hash');
  target.write(sha256Latin1(LEAF_PREFIX_TEXT + text), offset, 'latin1');
}

/**
 * The hash of an interior node: SHA-256(0x01 || left || right) (RFC 9162 §2.1.1).
 *
 * @example
 * const parent = nodeHash(leftChild, rightChild);
 */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  requireHashArgument(left, 'left');
  requireHashArgument(right, 'right');
  return hashChildren(left, right);
}

// One reusable 0x01 || left || right input. Allocating it per node was a third of the time to
// build a large tree; reuse is safe because hashing is synchronous and copies its input, so no
// other call can observe or interleave with the contents.
const nodeInput = new Uint8Array(1 + 2 * HASH_LENGTH);
nodeInput[0] = NODE_PREFIX;

/** nodeHash without the argument checks, for callers that have already checked. */
function hashChildren(left: Uint8Array, right: Uint8Array): Uint8Array {
  nodeInput.set(left, 1);
  nodeInput.set(right, 1 + HASH_LENGTH);
  return sha256(nodeInput);
}

// ---------------------------------------------------------------------------------------------
// Tree heads
// ---------------------------------------------------------------------------------------------

/**
 * Builds a tree head incrementally from a stream of leaf hashes, holding only O(log n) subtree
 * roots, so a verifier can replay a log of millions of entries without keeping it in memory.
 *
 * The stack holds the roots of the perfect subtrees that make up the tree so far, largest first;
 * their sizes are the set bits of `size`. This is exactly the RFC 9162 §2.1.1 shape, where
 * MTH(D_n) splits at the largest power of two below n.
 *
 * @example
 * const tree = new MerkleAccumulator();
 * for await (const row of auditRows) tree.append(row.leafHash);
 * if (!equalBytes(tree.root(), signedTreeHead.root)) throw new Error('log rewritten');
 */
export class MerkleAccumulator {
  #subtreeRoots: Uint8Array[] = [];
  #size = 0;

  /** Number of leaves appended so far. */
  get size(): number {
    return this.#size;
  }

  /** Appends the next leaf hash (already SHA-256(0x00 || entry), see {@link leafHash}). */
  append(leafHash: Uint8Array): void {
    requireHashArgument(leafHash, 'leafHash');
    if (this.#size >= Number.MAX_SAFE_INTEGER) throw new RangeError('tree size limit reached');
    // A copy: the caller may reuse its buffer, and the stack must not change under us.
    let node = copyOfHash(leafHash);
    // Each trailing 1 bit of the old size is a perfect subtree of the same height as `node`:
    // merge them, as adding 1 carries through those bits.
    for (let carry = this.#size; carry % 2 === 1; carry = (carry - 1) / 2) {
      node = hashChildren(this.#subtreeRoots.pop()!, node);
    }
    this.#subtreeRoots.push(node);
    this.#size += 1;
  }

  /** MTH of the leaves appended so far; SHA-256() for none. Does not change the accumulator. */
  root(): Uint8Array {
    const stack = this.#subtreeRoots;
    if (stack.length === 0) return copyOfHash(EMPTY_TREE_ROOT);
    if (stack.length === 1) return copyOfHash(stack[0]!);
    // Fold right to left: the smaller subtrees on the right hang under the larger on the left.
    let node = stack[stack.length - 1]!;
    for (let i = stack.length - 2; i >= 0; i--) node = hashChildren(stack[i]!, node);
    return node;
  }
}

/**
 * MTH(D[0:size]), the root of the tree made of the first `size` leaf hashes (RFC 9162 §2.1.1);
 * the empty tree's root is SHA-256(). O(n) time, O(log n) extra memory.
 *
 * @example
 * const head = rootHash(leafHashes);           // the whole log
 * const earlier = rootHash(leafHashes, 1000);  // the log as it was at 1000 entries
 */
export function rootHash(leafHashes: readonly Uint8Array[], size = leafHashes.length): Uint8Array {
  requireTreeSize(size, leafHashes.length, 'size');
  return rangeRoot(leafHashes, 0, size);
}

/** MTH(D[start:end]); the empty range gives the empty-tree root. */
function rangeRoot(leafHashes: readonly Uint8Array[], start: number, end: number): Uint8Array {
  const tree = new MerkleAccumulator();
  for (let i = start; i < end; i++) tree.append(leafHashes[i]!);
  return tree.root();
}

// ---------------------------------------------------------------------------------------------
// Proof generation (RFC 9162 §2.1.3.1 and §2.1.4.1)
// ---------------------------------------------------------------------------------------------

/** The largest power of two strictly less than n, for n > 1 (the split point k of §2.1.1). */
function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * The audit path PATH(index, D[0:size]) of RFC 9162 §2.1.3.1: the sibling subtree roots from the
 * leaf up to the root, in the order {@link verifyInclusion} consumes them.
 *
 * Costs O(size) hashing, since it recomputes the sibling subtrees from the leaves.
 *
 * @example
 * const proof = inclusionProof(leafHashes, 41, leafHashes.length);
 */
export function inclusionProof(
  leafHashes: readonly Uint8Array[],
  index: number,
  size = leafHashes.length,
): Uint8Array[] {
  requireTreeSize(size, leafHashes.length, 'size');
  return inclusionProofRanges(index, size).map(([from, to]) => rangeRoot(leafHashes, from, to));
}

/**
 * The consistency proof PROOF(size1, D[0:size2]) = SUBPROOF(size1, D[0:size2], true) of RFC 9162
 * §2.1.4.1, showing the tree of `size1` leaves is a prefix of the tree of `size2` leaves. Empty
 * when the sizes are equal. A proof from the empty tree is refused: it would prove nothing.
 *
 * @example
 * const proof = consistencyProof(leafHashes, lastSignedSize, leafHashes.length);
 */
export function consistencyProof(
  leafHashes: readonly Uint8Array[],
  size1: number,
  size2 = leafHashes.length,
): Uint8Array[] {
  requireTreeSize(size2, leafHashes.length, 'size2');
  return consistencyProofRanges(size1, size2).map(([from, to]) => rangeRoot(leafHashes, from, to));
}

/** A half-open range of leaf indices [start, end): a proof component is MTH(D[start:end]). */
export type LeafRange = readonly [start: number, end: number];

/**
 * PATH(index, D[0:size]) of RFC 9162 §2.1.3.1 as the leaf ranges whose subtree roots make it,
 * bottom-up: a caller holding cached subtree roots (a large log) need not rehash every leaf.
 */
export function inclusionProofRanges(index: number, size: number): LeafRange[] {
  if (!Number.isSafeInteger(size) || size < 1)
    throw new RangeError('size must be a positive integer');
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
    throw new RangeError(`index must be an integer in [0, ${size}), got ${index}`);
  }
  // Walk down from the root, recording the sibling at each split; the RFC lists them bottom-up.
  const ranges: LeafRange[] = [];
  let start = 0;
  let end = size;
  let m = index;
  while (end - start > 1) {
    const k = largestPowerOfTwoBelow(end - start);
    if (m < k) {
      // PATH(m, D[0:k]) : MTH(D[k:n])
      ranges.push([start + k, end]);
      end = start + k;
    } else {
      // PATH(m - k, D[k:n]) : MTH(D[0:k])
      ranges.push([start, start + k]);
      start += k;
      m -= k;
    }
  }
  return ranges.reverse();
}

/**
 * PROOF(size1, D[0:size2]) = SUBPROOF(size1, D[0:size2], true) of RFC 9162 §2.1.4.1 as leaf
 * ranges, in the order the verifier consumes them; empty when the sizes are equal. A proof from
 * the empty tree is refused: it would prove nothing.
 */
export function consistencyProofRanges(size1: number, size2: number): LeafRange[] {
  if (!Number.isSafeInteger(size2) || size2 < 1)
    throw new RangeError('size2 must be a positive integer');
  if (!Number.isSafeInteger(size1) || size1 < 1 || size1 > size2) {
    throw new RangeError(`size1 must be an integer in [1, ${size2}], got ${size1}`);
  }
  const ranges: LeafRange[] = [];
  let start = 0;
  let end = size2;
  let m = size1;
  // b of SUBPROOF: true while the old tree's root is the node we are at, so the verifier has it.
  let mIsOldRoot = true;
  while (m !== end - start) {
    const k = largestPowerOfTwoBelow(end - start);
    if (m <= k) {
      // SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
      ranges.push([start + k, end]);
      end = start + k;
    } else {
      // SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
      ranges.push([start, start + k]);
      start += k;
      m -= k;
      mIsOldRoot = false;
    }
  }
  // SUBPROOF(m, D[m], false) = {MTH(D[m])}; SUBPROOF(m, D[m], true) = {}.
  if (!mIsOldRoot) ranges.push([start, end]);
  return ranges.reverse();
}

// ---------------------------------------------------------------------------------------------
// Proof verification (RFC 9162 §2.1.3.2 and §2.1.4.2)
// ---------------------------------------------------------------------------------------------

export interface InclusionClaim {
  leafIndex: number;
  treeSize: number;
  leafHash: Uint8Array;
  proof: readonly Uint8Array[];
  root: Uint8Array;
}

/**
 * Checks that `leafHash` is leaf `leafIndex` of the tree of `treeSize` leaves whose root is `root`,
 * by RFC 9162 §2.1.3.2. Returns nothing on success; throws {@link MerkleProofError} otherwise.
 *
 * Stricter than the RFC's text where the RFC leaves it to the implementation, as
 * transparency-dev/merkle is: every hash must be 32 bytes, and the proof must have exactly the
 * number of components the index and size call for.
 *
 * @example
 * verifyInclusion({ leafIndex: 41, treeSize: head.size, leafHash: h, proof, root: head.root });
 */
export function verifyInclusion(claim: InclusionClaim): void {
  const { leafIndex, treeSize, leafHash, proof, root } = claim;
  requireSize(leafIndex, 'leafIndex');
  requireSize(treeSize, 'treeSize');
  requireHash(leafHash, 'leafHash');
  requireHash(root, 'root');
  requireProofHashes(proof);

  // Step 1: an index at or past the end, including any index into the empty tree, is refused.
  if (leafIndex >= treeSize) {
    throw new MerkleProofError(
      'index_out_of_range',
      `leaf_index ${leafIndex} is not below tree_size ${treeSize} (RFC 9162 §2.1.3.2)`,
    );
  }
  const expected = inclusionPathLength(leafIndex, treeSize);
  if (proof.length !== expected) {
    throw new MerkleProofError(
      'wrong_proof_size',
      `inclusion_path has ${proof.length} hashes, leaf_index ${leafIndex} of tree_size ${treeSize} needs ${expected}`,
    );
  }

  // Steps 2–4.
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r = leafHash;
  for (const p of proof) {
    // 4a. More hashes than levels: the path cannot be for this tree (kept though unreachable
    // after the length check, so the loop is the RFC's and stays safe on its own).
    if (sn === 0) throw wrongInclusionPathSize();
    if (isOdd(fn) || fn === sn) {
      r = hashChildren(p, r);
      // Along the right border a node may have no right sibling: climb past those levels.
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = hashChildren(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // Step 5.
  if (sn !== 0) throw wrongInclusionPathSize();
  if (!equalBytes(r, root)) {
    throw new MerkleProofError(
      'root_mismatch',
      'inclusion_path does not lead to root_hash (RFC 9162 §2.1.3.2 step 5)',
    );
  }
}

function wrongInclusionPathSize(): MerkleProofError {
  return new MerkleProofError('wrong_proof_size', 'inclusion_path length does not fit tree_size');
}

/** The number of hashes RFC 9162 §2.1.3.2 step 4 consumes for this index and size. */
function inclusionPathLength(leafIndex: number, treeSize: number): number {
  let fn = leafIndex;
  let sn = treeSize - 1;
  let length = 0;
  while (sn !== 0) {
    if (isOdd(fn) || fn === sn) {
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    }
    fn = half(fn);
    sn = half(sn);
    length += 1;
  }
  return length;
}

export interface ConsistencyClaim {
  size1: number;
  size2: number;
  root1: Uint8Array;
  root2: Uint8Array;
  proof: readonly Uint8Array[];
}

/**
 * Checks that the tree of `size2` leaves with root `root2` is an append-only extension of the tree
 * of `size1` leaves with root `root1`, by RFC 9162 §2.1.4.2. Returns nothing on success; throws
 * {@link MerkleProofError} otherwise.
 *
 * The RFC algorithm covers 0 < size1 < size2. Around it, as transparency-dev/merkle does:
 * size1 > size2 is refused (a log cannot shrink); size1 = 0 is refused (every tree extends the
 * empty tree, so such a "proof" would only give a false sense of having checked something);
 * size1 = size2 needs an empty proof and identical roots. Every hash must be 32 bytes.
 *
 * @example
 * verifyConsistency({ size1: old.size, size2: head.size, root1: old.root, root2: head.root, proof });
 */
export function verifyConsistency(claim: ConsistencyClaim): void {
  const { size1, size2, root1, root2, proof } = claim;
  requireSize(size1, 'size1');
  requireSize(size2, 'size2');
  requireProofHashes(proof);

  if (size1 > size2) {
    throw new MerkleProofError('size_order', `first tree size ${size1} exceeds second ${size2}`);
  }
  if (size1 === 0) {
    throw new MerkleProofError(
      'empty_tree',
      'a consistency proof from the empty tree is meaningless',
    );
  }
  if (size1 === size2) {
    if (proof.length !== 0) {
      throw new MerkleProofError('wrong_proof_size', 'equal tree sizes need an empty proof');
    }
    // Equal sizes only claim that the two roots are the same value; like transparency-dev, the
    // roots are compared as given, without requiring them to be SHA-256 sized.
    if (!equalBytes(root1, root2)) {
      throw new MerkleProofError('root_mismatch', `two different roots for tree size ${size1}`);
    }
    return;
  }
  requireHash(root1, 'root1');
  requireHash(root2, 'root2');

  // Step 2: when first is a power of two, the old root is itself a node of the new tree and the
  // proof omits it; the verifier supplies it.
  const firstIsPowerOfTwo = isPowerOfTwo(size1);
  const expected = consistencyPathLength(size1, size2) - (firstIsPowerOfTwo ? 1 : 0);
  // Step 1 (an empty consistency_path fails) is the expected > 0 case of this check.
  if (proof.length !== expected) {
    throw new MerkleProofError(
      'wrong_proof_size',
      `consistency_path has ${proof.length} hashes, sizes ${size1} → ${size2} need ${expected}`,
    );
  }
  const path = firstIsPowerOfTwo ? [root1, ...proof] : proof;

  // Steps 3–4.
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  // Step 5.
  let fr = path[0]!;
  let sr = path[0]!;
  // Step 6.
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!;
    // 6a: unreachable after the length check; kept so the loop is the RFC's and safe alone.
    if (sn === 0) throw wrongConsistencyPathSize();
    if (isOdd(fn) || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = hashChildren(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // Step 7.
  if (sn !== 0) throw wrongConsistencyPathSize();
  if (!equalBytes(fr, root1)) {
    throw new MerkleProofError(
      'root_mismatch',
      'consistency_path does not lead to first_hash (RFC 9162 §2.1.4.2 step 7)',
    );
  }
  if (!equalBytes(sr, root2)) {
    throw new MerkleProofError(
      'root_mismatch',
      'consistency_path does not lead to second_hash (RFC 9162 §2.1.4.2 step 7)',
    );
  }
}

function wrongConsistencyPathSize(): MerkleProofError {
  return new MerkleProofError('wrong_proof_size', 'consistency_path length does not fit the sizes');
}

/**
 * The length of the consistency_path RFC 9162 §2.1.4.2 steps 3–6 consume for 0 < first < second,
 * counting the first_hash that step 2 prepends when first is a power of two.
 */
function consistencyPathLength(first: number, second: number): number {
  let fn = first - 1;
  let sn = second - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let length = 1; // step 5 takes the first value
  while (sn !== 0) {
    if (isOdd(fn) || fn === sn) {
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    }
    fn = half(fn);
    sn = half(sn);
    length += 1;
  }
  return length;
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

function isOdd(n: number): boolean {
  return n % 2 === 1;
}

/** Right shift by one, exact for every safe integer (unlike `>>`, which truncates to 32 bits). */
function half(n: number): number {
  return Math.floor(n / 2);
}

function isPowerOfTwo(n: number): boolean {
  if (n < 1) return false;
  while (n % 2 === 0) n /= 2;
  return n === 1;
}

/** Byte equality. Roots and proofs are public, so a constant-time compare buys nothing here. */
function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Verifier boundary: sizes and indices come from outside (a signed tree head, a request). */
function requireSize(value: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new MerkleProofError('invalid_size', `${field} must be a non-negative safe integer`);
  }
}

/** Verifier boundary: anything not exactly a SHA-256 output cannot be part of a valid proof. */
function requireHash(value: Uint8Array, field: string): void {
  if (!(value instanceof Uint8Array) || value.length !== HASH_LENGTH) {
    throw new MerkleProofError('invalid_hash', `${field} must be ${HASH_LENGTH} bytes`);
  }
}

function requireProofHashes(proof: readonly Uint8Array[]): void {
  if (!Array.isArray(proof)) throw new MerkleProofError('invalid_hash', 'proof must be an array');
  proof.forEach((component, i) => requireHash(component, `proof[${i}]`));
}

/** Builder boundary: a wrong-length leaf hash is a programming error, not a forged proof. */
function requireHashArgument(value: Uint8Array, field: string): void {
  if (!(value instanceof Uint8Array) || value.length !== HASH_LENGTH) {
    throw new TypeError(`${field} must be a ${HASH_LENGTH}-byte hash`);
  }
}

function requireTreeSize(size: number, available: number, field: string): void {
  if (!Number.isSafeInteger(size) || size < 0 || size > available) {
    throw new RangeError(`${field} must be an integer in [0, ${available}], got ${size}`);
  }
}
