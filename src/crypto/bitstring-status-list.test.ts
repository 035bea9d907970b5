import { gzipSync } from 'node:zlib';
import { createList, decodeList } from '@digitalbazaar/vc-bitstring-status-list';
import { describe, expect, it } from 'vitest';
import { encodeStatusList } from '../status-lists/encoded-list';
import {
  decodeEncodedList,
  EncodedListError,
  emptyBitstring,
  getStatusBit,
  MIN_STATUS_LIST_LENGTH,
  multibaseBase64url,
  postgresBitNumber,
  setStatusBit,
} from './bitstring-status-list';

describe('W3C Bitstring Status List bits', () => {
  it('index 0 is the left-most bit: the most significant bit of the first byte', () => {
    const bits = emptyBitstring(16);
    setStatusBit(bits, 0, true);
    setStatusBit(bits, 9, true);
    expect([...bits]).toEqual([0b1000_0000, 0b0100_0000]);
    expect(getStatusBit(bits, 0)).toBe(true);
    expect(getStatusBit(bits, 1)).toBe(false);
    setStatusBit(bits, 0, false);
    expect(bits[0]).toBe(0);
    expect(() => getStatusBit(bits, 16)).toThrow(RangeError);
    expect(() => getStatusBit(bits, -1)).toThrow(RangeError);
    // PostgreSQL's get_bit/set_bit count from the least significant bit of each byte.
    expect([0, 1, 7, 8, 9].map(postgresBitNumber)).toEqual([7, 6, 0, 15, 14]);
  });

  it('agrees with Digital Bazaar’s implementation both ways', async () => {
    const indexes = [0, 1, 7, 8, 94_567, MIN_STATUS_LIST_LENGTH - 1];
    const ours = emptyBitstring(MIN_STATUS_LIST_LENGTH);
    for (const index of indexes) setStatusBit(ours, index, true);
    const theirsReadOurs = await decodeList({ encodedList: encodeStatusList(ours) });
    expect(theirsReadOurs.length).toBe(MIN_STATUS_LIST_LENGTH);
    const set: number[] = [];
    for (let i = 0; i < MIN_STATUS_LIST_LENGTH; i += 1)
      if (theirsReadOurs.getStatus(i)) set.push(i);
    expect(set).toEqual(indexes);

    const theirs = await createList({ length: MIN_STATUS_LIST_LENGTH });
    for (const index of indexes) theirs.setStatus(index, true);
    expect(decodeEncodedList(await theirs.encode())).toEqual(ours);
  });

  it('encodes the same bits to the same text (so instances sign identical lists)', () => {
    const bits = emptyBitstring(MIN_STATUS_LIST_LENGTH);
    setStatusBit(bits, 42, true);
    expect(encodeStatusList(bits)).toBe(encodeStatusList(new Uint8Array(bits)));
    expect(encodeStatusList(bits)).toMatch(/^u[A-Za-z0-9_-]+$/);
  });

  it('refuses what is not multibase base64url GZIP, and a GZIP bomb', () => {
    const bits = new Uint8Array([0x80]);
    for (const bad of [
      'zabc',
      'u!!!',
      'u',
      multibaseBase64url(new Uint8Array(40)),
      encodeStatusList(bits).slice(0, 20),
    ]) {
      expect(() => decodeEncodedList(bad)).toThrow(EncodedListError);
    }
    // A GZIP trailer (RFC 1952 §2.3.1) that declares 1 GiB: refused before anything is inflated.
    const bomb = gzipSync(Buffer.alloc(1024));
    bomb.writeUInt32LE(1024 * 1024 * 1024, bomb.length - 4);
    expect(() => decodeEncodedList(multibaseBase64url(new Uint8Array(bomb)))).toThrow(/too large/);
    // One that declares less than it holds is refused too, not written past its end.
    const liar = gzipSync(Buffer.alloc(1024, 1));
    liar.writeUInt32LE(16, liar.length - 4);
    expect(() => decodeEncodedList(multibaseBase64url(new Uint8Array(liar)))).toThrow(
      EncodedListError,
    );
  });
});
