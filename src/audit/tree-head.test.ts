import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rootHash } from '../crypto/merkle';
import { TreeHead } from './tree-head';

const leaf = (i: number) => new Uint8Array(createHash('sha256').update(`leaf ${i}`).digest());
const concat = (leaves: readonly Uint8Array[]) => {
  const out = new Uint8Array(leaves.length * 32);
  leaves.forEach((l, i) => out.set(l, i * 32));
  return out;
};

describe('TreeHead', () => {
  it('gives the RFC 9162 root and subtree roots however the log grows: read, or handed the leaves a pass wrote', async () => {
    await fc.assert(
      fc.asyncProperty(
        // Each step appends `count` leaves to the log, written by this instance's sequencer,
        // which hands them to the tree ('handed'), or by another instance's, after which this one
        // advances by reading ('read') or not at all yet ('elsewhere': the tree then lags, and
        // the next batch handed to it does not start where it ends). `after` more leaves may be
        // written by another instance between a handed batch's commit and its hand-over.
        fc.array(
          fc.record({
            count: fc.integer({ min: 0, max: 11 }),
            how: fc.constantFrom('handed', 'read', 'elsewhere'),
            after: fc.constantFrom(0, 0, 3),
          }),
          { maxLength: 12 },
        ),
        fc.constantFrom(1, 2, 4, 8),
        async (steps, chunkLeaves) => {
          const log: Uint8Array[] = [];
          let reads = 0;
          const head = new TreeHead(async (from, to) => {
            reads++;
            return log.slice(from, to);
          }, chunkLeaves);
          for (const { count, how, after } of steps) {
            const from = log.length;
            const written = Array.from({ length: count }, (_, i) => leaf(from + i));
            log.push(...written);
            if (how === 'elsewhere') continue;
            if (how === 'handed') {
              for (let i = 0; i < after; i++) log.push(leaf(log.length));
            }
            const caughtUp = head.size === from;
            const readsBefore = reads;
            const { size, root } = await head.advance(
              how === 'handed' ? { from, leaves: concat(written) } : undefined,
            );
            // Handed where it ends, the tree takes the batch and stops there, without reading;
            // otherwise it reads to the end of the log.
            const expected = how === 'handed' && caughtUp ? from + count : log.length;
            expect(size).toBe(expected);
            expect(root).toEqual(rootHash(log, expected));
            if (how === 'handed' && caughtUp) expect(reads).toBe(readsBefore);
          }
          // Subtree roots over ranges spread across the log, chunked and ragged.
          await head.advance(); // reads whatever it has not
          for (let start = 0; start < log.length; start += 3) {
            for (let end = start + 1; end <= log.length; end += 5) {
              expect(await head.rangeRoot(start, end)).toEqual(rootHash(log.slice(start, end)));
            }
          }
        },
      ),
      { numRuns: 80 },
    );
  });

  it('keeps each complete chunk’s root in a buffer of its own, pinning no slab of hashes', async () => {
    const leaves = Array.from({ length: 64 }, (_, i) => leaf(i));
    const head = new TreeHead(async (from, to) => leaves.slice(from, to), 8);
    await head.advance({ from: 0, leaves: concat(leaves) });
    // The roots of complete chunks and of perfect subtrees of chunks are the kept ones.
    for (const [start, end] of [
      [0, 8],
      [8, 16],
      [0, 16],
      [0, 64],
    ] as const) {
      const root = await head.rangeRoot(start, end);
      expect(root).toEqual(rootHash(leaves.slice(start, end)));
      expect(root.buffer.byteLength, `${start}..${end}`).toBe(32);
    }
  });
});
