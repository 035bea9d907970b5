import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import {
  MerkleAccumulator,
  MerkleProofError,
  type MerkleProofErrorCode,
  consistencyProof,
  inclusionProof,
  leafHash,
  leafHashOfText,
  nodeHash,
  rootHash,
  verifyConsistency,
  verifyInclusion,
  writeLeafHashOfText,
} from './merkle';

// transparency-dev/merkle's test data, kept in test/vectors/merkle (provenance in test/vectors/README.md).
const vectorsDir = fileURLToPath(new URL('../../test/vectors/merkle/', import.meta.url));

function listJson(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) =>
      entry.isDirectory()
        ? listJson(join(dir, entry.name))
        : entry.name.endsWith('.json')
          ? [join(dir, entry.name)]
          : [],
    )
    .sort();
}

/** base64 → bytes; the vectors write an absent hash or proof as null. */
function bytes(base64: string | null | undefined): Uint8Array {
  return base64 == null ? new Uint8Array(0) : new Uint8Array(Buffer.from(base64, 'base64'));
}

interface InclusionVector {
  leafIdx: number;
  treeSize: number;
  root: string | null;
  leafHash: string | null;
  proof?: (string | null)[] | null;
  desc: string;
  wantErr: boolean;
}

interface ConsistencyVector {
  size1: number;
  size2: number;
  root1: string | null;
  root2: string | null;
  proof?: (string | null)[] | null;
  desc: string;
  wantErr: boolean;
}

function load<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

const inclusionFiles = listJson(join(vectorsDir, 'inclusion')).map((file) => ({
  name: relative(vectorsDir, file),
  vector: load<InclusionVector>(file),
}));
const consistencyFiles = listJson(join(vectorsDir, 'consistency')).map((file) => ({
  name: relative(vectorsDir, file),
  vector: load<ConsistencyVector>(file),
}));

function inclusionClaim(v: InclusionVector) {
  return {
    leafIndex: v.leafIdx,
    treeSize: v.treeSize,
    leafHash: bytes(v.leafHash),
    proof: (v.proof ?? []).map(bytes),
    root: bytes(v.root),
  };
}

function consistencyClaim(v: ConsistencyVector) {
  return {
    size1: v.size1,
    size2: v.size2,
    root1: bytes(v.root1),
    root2: bytes(v.root2),
    proof: (v.proof ?? []).map(bytes),
  };
}

/** The code of the MerkleProofError `run` throws, or null when it returns. */
function refusal(run: () => void): MerkleProofErrorCode | null {
  try {
    run();
    return null;
  } catch (error) {
    if (error instanceof MerkleProofError) return error.code;
    throw error;
  }
}

describe('RFC 9162 proof verification against transparency-dev/merkle vectors', () => {
  test('the vector set is there', () => {
    expect(inclusionFiles.length).toBeGreaterThan(50);
    expect(consistencyFiles.length).toBeGreaterThan(50);
  });

  test.each(inclusionFiles)('inclusion $name', ({ vector }) => {
    const code = refusal(() => verifyInclusion(inclusionClaim(vector)));
    if (vector.wantErr) expect(code).not.toBeNull();
    else expect(code).toBeNull();
  });

  test.each(consistencyFiles)('consistency $name', ({ vector }) => {
    const code = refusal(() => verifyConsistency(consistencyClaim(vector)));
    if (vector.wantErr) expect(code).not.toBeNull();
    else expect(code).toBeNull();
  });
});

describe('the 8-leaf reference tree of the vectors', () => {
  // The leaf inputs of RFC 6962's reference tree, which the vectors' proofs and roots are over.
  const referenceLeaves = [
    '',
    '00',
    '10',
    '2021',
    '3031',
    '40414243',
    '5051525354555657',
    '606162636465666768696a6b6c6d6e6f',
  ].map((hex) => leafHash(Buffer.from(hex, 'hex')));

  const inclusionHappy = inclusionFiles.filter(
    ({ name, vector }) => !vector.wantErr && !name.includes('single-entry'),
  );
  const consistencyHappy = consistencyFiles.filter(
    ({ name, vector }) => !vector.wantErr && !name.includes('additional'),
  );

  test('has 8 leaves: every size in the vectors lies within it', () => {
    const sizes = [
      ...inclusionHappy.map(({ vector }) => vector.treeSize),
      ...consistencyHappy.map(({ vector }) => vector.size2),
    ];
    expect(inclusionHappy.length).toBeGreaterThan(0);
    expect(consistencyHappy.length).toBeGreaterThan(0);
    expect(Math.max(...sizes)).toBe(8);
  });

  test.each(inclusionHappy)('$name: same leaf hash, root and audit path', ({ vector }) => {
    expect(referenceLeaves[vector.leafIdx]).toEqual(bytes(vector.leafHash));
    expect(rootHash(referenceLeaves, vector.treeSize)).toEqual(bytes(vector.root));
    expect(inclusionProof(referenceLeaves, vector.leafIdx, vector.treeSize)).toEqual(
      (vector.proof ?? []).map(bytes),
    );
  });

  test.each(consistencyHappy)('$name: same roots and consistency proof', ({ vector }) => {
    expect(rootHash(referenceLeaves, vector.size1)).toEqual(bytes(vector.root1));
    expect(rootHash(referenceLeaves, vector.size2)).toEqual(bytes(vector.root2));
    expect(consistencyProof(referenceLeaves, vector.size1, vector.size2)).toEqual(
      (vector.proof ?? []).map(bytes),
    );
  });
});

// ---------------------------------------------------------------------------------------------

const sha256 = (data: Uint8Array) => new Uint8Array(createHash('sha256').update(data).digest());
const hex = (hash: Uint8Array) => Buffer.from(hash).toString('hex');

/** MTH straight from the recursive definition of RFC 9162 §2.1.1, to check the fast one against. */
function referenceRoot(leaves: Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return sha256(new Uint8Array(0));
  if (leaves.length === 1) return leaves[0]!;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(referenceRoot(leaves.slice(0, k)), referenceRoot(leaves.slice(k)));
}

/** Reproducible pseudo-random leaves: the same tree on every run. */
function pseudoRandomLeaves(count: number, seed: string): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => leafHash(sha256(Buffer.from(`${seed}/${i}`))));
}

const MAX_SIZE = 70;
const sizes = Array.from({ length: MAX_SIZE }, (_, i) => i + 1);

describe('hashing and tree heads', () => {
  test('leaf and node hashes are domain-separated SHA-256 (RFC 9162 §2.1.1)', () => {
    const data = Buffer.from('audit entry');
    expect(leafHash(data)).toEqual(sha256(Buffer.concat([Buffer.of(0), data])));
    const [left, right] = pseudoRandomLeaves(2, 'node');
    expect(nodeHash(left!, right!)).toEqual(sha256(Buffer.concat([Buffer.of(1), left!, right!])));
    expect(leafHash(data)).not.toEqual(sha256(data));
  });

  test('the empty tree has root SHA-256() from both builders', () => {
    expect(hex(rootHash([]))).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    expect(new MerkleAccumulator().root()).toEqual(rootHash([]));
  });

  test('rootHash, its size argument and MerkleAccumulator all match the recursive MTH', () => {
    const leaves = pseudoRandomLeaves(MAX_SIZE, 'heads');
    const accumulator = new MerkleAccumulator();
    for (let size = 0; size <= MAX_SIZE; size++) {
      const expected = referenceRoot(leaves.slice(0, size));
      expect(rootHash(leaves.slice(0, size))).toEqual(expected);
      expect(rootHash(leaves, size)).toEqual(expected);
      expect(accumulator.size).toBe(size);
      expect(accumulator.root()).toEqual(expected);
      expect(accumulator.root()).toEqual(expected); // root() leaves the state alone
      if (size < MAX_SIZE) accumulator.append(leaves[size]!);
    }
  });

  test('the accumulator keeps its own copy of appended hashes and of its root', () => {
    const [first, second] = pseudoRandomLeaves(2, 'copies');
    const accumulator = new MerkleAccumulator();
    const reused = new Uint8Array(first!);
    accumulator.append(reused);
    accumulator.root().fill(0);
    reused.fill(0);
    expect(accumulator.root()).toEqual(first);
    accumulator.append(second!);
    expect(accumulator.root()).toEqual(nodeHash(first!, second!));
  });

  test('hashes made one after another never share bytes (they are carved from one slab)', () => {
    // More than a slab's worth, so some straddle a new slab.
    const hashes = Array.from({ length: 600 }, (_, i) => leafHashOfText(`entry ${i}`));
    const expected = hashes.map((h) => Uint8Array.from(h));
    for (const hash of hashes) {
      expect(hash.byteLength).toBe(32);
      hash.fill(0xff); // writing one must not reach its neighbours
    }
    const again = Array.from({ length: 600 }, (_, i) => leafHashOfText(`entry ${i}`));
    expect(again).toEqual(expected);
    for (const [i, hash] of again.entries()) {
      expect(hash).toEqual(leafHash(new TextEncoder().encode(`entry ${i}`)));
    }
  });

  test('a leaf hash written into a batch is the leaf hash of the same text, and only there', () => {
    const batch = Buffer.alloc(3 * 32, 0xaa);
    writeLeafHashOfText('{"seq":2,"ü":"漢"}', batch, 32);
    expect(batch.subarray(32, 64)).toEqual(
      Buffer.from(leafHash(new TextEncoder().encode('{"seq":2,"ü":"漢"}'))),
    );
    expect(batch.subarray(0, 32).every((b) => b === 0xaa)).toBe(true);
    expect(batch.subarray(64).every((b) => b === 0xaa)).toBe(true);
    expect(() => writeLeafHashOfText('x', batch, 65)).toThrow(RangeError);
  });

  test('builders refuse hashes that are not 32 bytes and sizes past the leaves', () => {
    expect(() => new MerkleAccumulator().append(new Uint8Array(31))).toThrow(TypeError);
    expect(() => rootHash([new Uint8Array(33)])).toThrow(TypeError);
    expect(() => nodeHash(new Uint8Array(32), new Uint8Array(0))).toThrow(TypeError);
    const leaves = pseudoRandomLeaves(3, 'bounds');
    expect(() => rootHash(leaves, 4)).toThrow(RangeError);
    expect(() => rootHash(leaves, -1)).toThrow(RangeError);
    expect(() => rootHash(leaves, 1.5)).toThrow(RangeError);
  });
});

describe('generated proofs over pseudo-random trees of 1..70 leaves', () => {
  test.each(sizes)('every inclusion proof in a tree of %i verifies', (size) => {
    const leaves = pseudoRandomLeaves(size, `inclusion-${size}`);
    const root = rootHash(leaves);
    for (let leafIndex = 0; leafIndex < size; leafIndex++) {
      const proof = inclusionProof(leaves, leafIndex, size);
      const claim = { leafIndex, treeSize: size, leafHash: leaves[leafIndex]!, proof, root };
      expect(refusal(() => verifyInclusion(claim))).toBeNull();
      // …and only for its own leaf and position.
      if (size > 1) {
        const other = (leafIndex + 1) % size;
        expect(refusal(() => verifyInclusion({ ...claim, leafHash: leaves[other]! }))).toBe(
          'root_mismatch',
        );
      }
    }
  });

  test.each(sizes)('every consistency proof up to a tree of %i verifies', (size2) => {
    const leaves = pseudoRandomLeaves(size2, `consistency-${size2}`);
    const root2 = rootHash(leaves);
    for (let size1 = 1; size1 <= size2; size1++) {
      const proof = consistencyProof(leaves, size1, size2);
      const root1 = rootHash(leaves, size1);
      const claim = { size1, size2, root1, root2, proof };
      expect(refusal(() => verifyConsistency(claim))).toBeNull();
      if (size1 < size2) {
        expect(proof.length).toBeGreaterThan(0);
        expect(refusal(() => verifyConsistency({ ...claim, root1: root2, root2: root1 }))).not.toBe(
          null,
        );
      } else {
        expect(proof).toEqual([]);
      }
    }
  });

  test.each(sizes)('tampering with any leaf of a tree of %i is caught', (size) => {
    const leaves = pseudoRandomLeaves(size, `tamper-${size}`);
    const root = rootHash(leaves);
    for (let tampered = 0; tampered < size; tampered++) {
      const forged = leaves.slice();
      forged[tampered] = leafHash(Buffer.from(`forged entry ${tampered}`));
      const forgedRoot = rootHash(forged);
      expect(forgedRoot).not.toEqual(root);

      // A forged entry cannot borrow the genuine entry's proof…
      const genuineProof = inclusionProof(leaves, tampered, size);
      const forgedClaim = {
        leafIndex: tampered,
        treeSize: size,
        leafHash: forged[tampered]!,
        proof: genuineProof,
        root,
      };
      expect(refusal(() => verifyInclusion(forgedClaim))).toBe('root_mismatch');
      // …and the forged tree's proof of it does not reach the genuine root.
      const forgedProof = inclusionProof(forged, tampered, size);
      expect(refusal(() => verifyInclusion({ ...forgedClaim, proof: forgedProof }))).toBe(
        'root_mismatch',
      );
      // A log that rewrote an entry cannot prove it only appended since a head covering it.
      const size1 = tampered + 1;
      if (size1 < size) {
        const claim = {
          size1,
          size2: size,
          root1: rootHash(leaves, size1),
          root2: forgedRoot,
          proof: consistencyProof(forged, size1, size),
        };
        expect(refusal(() => verifyConsistency(claim))).toBe('root_mismatch');
      }
    }
  });
});

describe('strictness: each refusal carries its code', () => {
  const leaves = pseudoRandomLeaves(13, 'strict');
  const root = rootHash(leaves);
  const inclusion = {
    leafIndex: 5,
    treeSize: 13,
    leafHash: leaves[5]!,
    proof: inclusionProof(leaves, 5, 13),
    root,
  };
  const consistency = {
    size1: 6,
    size2: 13,
    root1: rootHash(leaves, 6),
    root2: root,
    proof: consistencyProof(leaves, 6, 13),
  };
  const extra = leaves[0]!;

  test('the unmodified claims verify', () => {
    expect(refusal(() => verifyInclusion(inclusion))).toBeNull();
    expect(refusal(() => verifyConsistency(consistency))).toBeNull();
  });

  test.each<[string, Partial<typeof inclusion>, MerkleProofErrorCode]>([
    ['index = size', { leafIndex: 13 }, 'index_out_of_range'],
    ['index past size', { leafIndex: 14 }, 'index_out_of_range'],
    ['empty tree', { leafIndex: 0, treeSize: 0, proof: [] }, 'index_out_of_range'],
    ['negative index', { leafIndex: -1 }, 'invalid_size'],
    ['fractional size', { treeSize: 13.5 }, 'invalid_size'],
    ['index past 2^53', { leafIndex: 2 ** 64 - 1 }, 'invalid_size'],
    ['extra component', { proof: [...inclusion.proof, extra] }, 'wrong_proof_size'],
    ['missing component', { proof: inclusion.proof.slice(1) }, 'wrong_proof_size'],
    ['empty proof', { proof: [] }, 'wrong_proof_size'],
    ['short leaf hash', { leafHash: leaves[5]!.subarray(1) }, 'invalid_hash'],
    ['long root', { root: new Uint8Array(33) }, 'invalid_hash'],
    [
      'empty proof component',
      { proof: [new Uint8Array(0), ...inclusion.proof.slice(1)] },
      'invalid_hash',
    ],
    ['other root', { root: rootHash(leaves, 12) }, 'root_mismatch'],
  ])('inclusion: %s', (_label, change, code) => {
    expect(refusal(() => verifyInclusion({ ...inclusion, ...change }))).toBe(code);
  });

  test.each<[string, Partial<typeof consistency>, MerkleProofErrorCode]>([
    ['size1 > size2', { size1: 14 }, 'size_order'],
    ['size1 = 0, empty proof', { size1: 0, proof: [] }, 'empty_tree'],
    ['size1 = 0, non-empty proof', { size1: 0 }, 'empty_tree'],
    ['sizes 0 and 0', { size1: 0, size2: 0, root1: root, root2: root, proof: [] }, 'empty_tree'],
    [
      'equal sizes, non-empty proof',
      { size1: 13, root1: root, proof: [extra] },
      'wrong_proof_size',
    ],
    ['equal sizes, different roots', { size1: 13, proof: [] }, 'root_mismatch'],
    ['empty proof', { proof: [] }, 'wrong_proof_size'],
    ['extra component', { proof: [...consistency.proof, extra] }, 'wrong_proof_size'],
    ['missing component', { proof: consistency.proof.slice(0, -1) }, 'wrong_proof_size'],
    ['short root1', { root1: new Uint8Array(12) }, 'invalid_hash'],
    ['negative size', { size2: -1 }, 'invalid_size'],
    ['other first root', { root1: rootHash(leaves, 7) }, 'root_mismatch'],
    ['other second root', { root2: rootHash(leaves, 12) }, 'root_mismatch'],
  ])('consistency: %s', (_label, change, code) => {
    expect(refusal(() => verifyConsistency({ ...consistency, ...change }))).toBe(code);
  });

  test('equal sizes with equal roots and an empty proof verify', () => {
    const claim = { size1: 13, size2: 13, root1: root, root2: root, proof: [] };
    expect(refusal(() => verifyConsistency(claim))).toBeNull();
  });

  test('generators refuse impossible requests', () => {
    expect(() => inclusionProof(leaves, 13, 13)).toThrow(RangeError);
    expect(() => inclusionProof(leaves, 0, 14)).toThrow(RangeError);
    expect(() => consistencyProof(leaves, 0, 13)).toThrow(RangeError);
    expect(() => consistencyProof(leaves, 7, 6)).toThrow(RangeError);
  });
});

describe('trees past 2^32 leaves, where 32-bit shifts would alias sizes', () => {
  // With every leaf the same, a subtree's root depends only on its size, so the RFC 9162 §2.1.1
  // MTH, §2.1.3.1 PATH and §2.1.4.1 SUBPROOF recursions can be followed for any size in a few
  // dozen hashes. They serve here as an independent reference for the verifiers' arithmetic:
  // with `>>` in place of halving, these proofs are refused. (Negative cases prove little here:
  // identical leaves make distinct sizes share subtrees, so wrong sizes can verify by design.)
  const entry = leafHash(Buffer.from('the same entry'));
  const roots = new Map<number, Uint8Array>();
  const split = (n: number) => {
    let k = 1;
    while (k * 2 < n) k *= 2;
    return k;
  };
  const mth = (n: number): Uint8Array => {
    if (n === 1) return entry;
    let root = roots.get(n);
    if (!root) {
      root = nodeHash(mth(split(n)), mth(n - split(n)));
      roots.set(n, root);
    }
    return root;
  };
  const path = (m: number, n: number): Uint8Array[] => {
    if (n === 1) return [];
    const k = split(n);
    return m < k ? [...path(m, k), mth(n - k)] : [...path(m - k, n - k), mth(k)];
  };
  const subproof = (m: number, n: number, b: boolean): Uint8Array[] => {
    if (m === n) return b ? [] : [mth(m)];
    const k = split(n);
    return m <= k ? [...subproof(m, k, b), mth(n - k)] : [...subproof(m - k, n - k, false), mth(k)];
  };

  test.each([
    [2 ** 32 - 1, 2 ** 32 + 1],
    [2 ** 33 + 3, 2 ** 33 + 5],
    [2 ** 40 + 12_345, 2 ** 40 + 2 ** 35 + 7],
    [2 ** 53 - 2, 2 ** 53 - 1],
  ])('inclusion of leaf %i in a tree of %i', (leafIndex, treeSize) => {
    const claim = {
      leafIndex,
      treeSize,
      leafHash: entry,
      proof: path(leafIndex, treeSize),
      root: mth(treeSize),
    };
    expect(refusal(() => verifyInclusion(claim))).toBeNull();
  });

  test.each([
    [2 ** 32, 2 ** 32 + 1],
    [2 ** 32 + 3, 2 ** 33 + 1],
    [2 ** 36 + 5, 2 ** 45 + 2 ** 36 + 9],
    [2 ** 32, 2 ** 53 - 1],
  ])('consistency from %i to %i leaves', (size1, size2) => {
    const claim = {
      size1,
      size2,
      root1: mth(size1),
      root2: mth(size2),
      proof: subproof(size1, size2, true),
    };
    expect(refusal(() => verifyConsistency(claim))).toBeNull();
  });
});
