/**
 * RFC 9162 proofs as the leaf ranges whose subtree roots they are made of, so a proof over a large
 * log is computed from cached subtree roots (tree-head.ts) instead of every leaf. The walks are
 * those of src/crypto/merkle.ts (inclusionProof, consistencyProof); the ranges of one proof are
 * disjoint, listed in the order the verifier consumes the hashes. Pure.
 */

/** A half-open range of leaf indices [start, end): its proof component is MTH(D[start:end]). */
export type LeafRange = readonly [start: number, end: number];

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** PATH(index, D[0:size]) of RFC 9162 §2.1.3.1 as ranges, bottom-up. */
export function inclusionProofRanges(index: number, size: number): LeafRange[] {
  if (!Number.isSafeInteger(size) || size < 1)
    throw new RangeError('size must be a positive integer');
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
    throw new RangeError(`index must be an integer in [0, ${size}), got ${index}`);
  }
  const ranges: LeafRange[] = [];
  let start = 0;
  let end = size;
  let m = index;
  while (end - start > 1) {
    const k = largestPowerOfTwoBelow(end - start);
    if (m < k) {
      ranges.push([start + k, end]);
      end = start + k;
    } else {
      ranges.push([start, start + k]);
      start += k;
      m -= k;
    }
  }
  return ranges.reverse();
}

/** PROOF(size1, D[0:size2]) of RFC 9162 §2.1.4.1 as ranges; empty when the sizes are equal. */
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
  let mIsOldRoot = true;
  while (m !== end - start) {
    const k = largestPowerOfTwoBelow(end - start);
    if (m <= k) {
      ranges.push([start + k, end]);
      end = start + k;
    } else {
      ranges.push([start, start + k]);
      start += k;
      m -= k;
      mIsOldRoot = false;
    }
  }
  if (!mIsOldRoot) ranges.push([start, end]);
  return ranges.reverse();
}
