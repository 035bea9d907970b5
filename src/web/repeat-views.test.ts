import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RepeatViews } from './repeat-views';

const secret = new Uint8Array(randomBytes(32));
const HOUR = 3_600_000;
const at = (iso: string) => new Date(iso);
const serial = (n: number) => String(1000000000000000 + n);

describe('RepeatViews (the repeat-view cookie)', () => {
  it('remembers a counted mark for the window, from the counted view, and forgets it after', () => {
    const first = at('2026-11-24T10:00:00Z');
    const cookie = RepeatViews.read(secret, 24 * HOUR, undefined)
      .with(serial(1), first)
      .serialize();
    const views = RepeatViews.read(secret, 24 * HOUR, cookie);
    expect(views.seen(serial(1), at('2026-11-24T10:00:30Z'))).toBe(true);
    expect(views.seen(serial(1), at('2026-11-25T09:59:00Z'))).toBe(true);
    expect(views.seen(serial(1), at('2026-11-25T10:00:00Z'))).toBe(false);
    expect(views.seen(serial(2), first)).toBe(false);
  });

  it('keeps no serial in the clear and refuses a cookie it did not make', () => {
    const now = at('2026-11-24T10:00:00Z');
    const cookie = RepeatViews.read(secret, HOUR, undefined).with(serial(7), now).serialize();
    expect(Buffer.from(cookie, 'base64url').toString('latin1')).not.toContain(serial(7));
    expect(cookie).not.toContain(serial(7));

    const flipped = Buffer.from(cookie, 'base64url');
    flipped[0]! ^= 1;
    expect(RepeatViews.read(secret, HOUR, flipped.toString('base64url')).seen(serial(7), now)).toBe(
      false,
    );
    const otherKey = new Uint8Array(randomBytes(32));
    expect(RepeatViews.read(otherKey, HOUR, cookie).seen(serial(7), now)).toBe(false);
    for (const junk of ['', 'x', '!!!', 'A'.repeat(2000), cookie.slice(0, -1)]) {
      expect(RepeatViews.read(secret, HOUR, junk).seen(serial(7), now)).toBe(false);
    }
  });

  it('stays bounded: the oldest mark goes first', () => {
    let views = RepeatViews.read(secret, 24 * HOUR, undefined);
    const start = at('2026-11-24T10:00:00Z').getTime();
    for (let i = 0; i < 40; i++) views = views.with(serial(i), new Date(start + i * 60_000));
    const cookie = views.serialize();
    expect(cookie.length).toBeLessThan(600);
    const read = RepeatViews.read(secret, 24 * HOUR, cookie);
    const now = new Date(start + 40 * 60_000);
    expect(read.seen(serial(39), now)).toBe(true);
    expect(read.seen(serial(8), now)).toBe(true);
    expect(read.seen(serial(7), now)).toBe(false);
  });
});
