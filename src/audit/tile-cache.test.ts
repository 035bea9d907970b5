import { describe, expect, it } from 'vitest';
import { ImmutableTileCache } from './tile-cache';

describe('ImmutableTileCache', () => {
  it('keeps tiles up to its size, dropping the least recently read first', () => {
    const cache = new ImmutableTileCache(3 * 8192);
    const tile = (n: number) => new Uint8Array(8192).fill(n);
    cache.set('0/0', tile(0));
    cache.set('0/1', tile(1));
    cache.set('0/2', tile(2));
    expect(cache.get('0/0')?.[0]).toBe(0); // now the most recent
    cache.set('0/3', tile(3));
    expect(cache.get('0/1')).toBeUndefined();
    expect([0, 2, 3].map((n) => cache.get(`0/${n}`)?.[0])).toEqual([0, 2, 3]);
    // A tile is written once: its bytes never change.
    cache.set('0/2', tile(9));
    expect(cache.get('0/2')?.[0]).toBe(2);
    cache.set('huge', new Uint8Array(4 * 8192));
    expect(cache.get('huge')).toBeUndefined();
  });
});
