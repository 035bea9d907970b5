import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/**
 * Which marks this browser has already been counted for (issue "scans that count people"): a buyer
 * who reloads `/m/{code}` or switches its language must not push their own genuine mark toward the
 * clone threshold. The page keeps a first-party cookie listing the marks it counted and when; a
 * view of a listed mark within the window is logged but not counted. Nothing about the browser is
 * read beyond this cookie (no fingerprinting): a browser that refuses cookies counts every view, as
 * before.
 *
 * The cookie holds no serial in the clear: each entry is an 8-byte keyed tag of the serial and the
 * minute it was counted, and the whole list carries an HMAC, so it reveals nothing to whoever reads
 * the browser's cookies and cannot be made up. (A forged list could only stop its own views from
 * counting — which not scanning achieves too — but an unauthenticated list is still not evidence.)
 */

/** The cookie's name. `__Host-` would demand `Secure`, which a plain-HTTP development base cannot give. */
export const REPEAT_VIEWS_COOKIE = 'cm_views';

/** Entries kept: the cookie stays under 600 bytes; the oldest entry is dropped first. */
const MAX_ENTRIES = 32;
const TAG_BYTES = 8;
const ENTRY_BYTES = TAG_BYTES + 4;
const MAC_BYTES = 16;

/** The key of the tags and the MAC, derived from the key-encryption key: nothing to configure. */
export function deriveRepeatViewsSecret(kek: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', kek, new Uint8Array(0), 'certmark/repeat-views/v1', 32));
}

interface Entry {
  tag: Buffer;
  /** Minutes since the epoch when the view was counted. */
  minute: number;
}

/** The marks a browser was counted for, as read from its cookie (immutable). */
export class RepeatViews {
  private constructor(
    private readonly secret: Uint8Array,
    private readonly windowMs: number,
    private readonly entries: readonly Entry[],
  ) {}

  /** Reads the cookie; anything missing, malformed or not ours reads as "no views yet". */
  static read(secret: Uint8Array, windowMs: number, cookie: string | undefined): RepeatViews {
    const empty = new RepeatViews(secret, windowMs, []);
    if (!cookie || cookie.length > 1024 || !/^[A-Za-z0-9_-]+$/.test(cookie)) return empty;
    const bytes = Buffer.from(cookie, 'base64url');
    const body = bytes.subarray(0, bytes.length - MAC_BYTES);
    if (bytes.length < MAC_BYTES || body.length % ENTRY_BYTES !== 0) return empty;
    if (!timingSafeEqual(mac(secret, body), bytes.subarray(body.length))) return empty;
    const entries: Entry[] = [];
    for (let at = 0; at < body.length && entries.length < MAX_ENTRIES; at += ENTRY_BYTES) {
      entries.push({
        tag: Buffer.from(body.subarray(at, at + TAG_BYTES)),
        minute: body.readUInt32BE(at + TAG_BYTES),
      });
    }
    return new RepeatViews(secret, windowMs, entries);
  }

  /** Whether this browser was counted for the mark within the window before `now`. */
  seen(serial: string, now: Date): boolean {
    const tag = this.tagOf(serial);
    return this.entries.some((e) => e.tag.equals(tag) && this.fresh(e, now));
  }

  /** The list with the mark counted at `now` (the window runs from the counted view, not the last). */
  with(serial: string, now: Date): RepeatViews {
    const tag = this.tagOf(serial);
    const kept = this.entries.filter((e) => !e.tag.equals(tag) && this.fresh(e, now));
    const added = { tag, minute: Math.floor(now.getTime() / 60_000) };
    return new RepeatViews(this.secret, this.windowMs, [...kept.slice(-(MAX_ENTRIES - 1)), added]);
  }

  /** The cookie's value. */
  serialize(): string {
    const body = Buffer.alloc(this.entries.length * ENTRY_BYTES);
    this.entries.forEach((e, i) => {
      e.tag.copy(body, i * ENTRY_BYTES);
      body.writeUInt32BE(e.minute, i * ENTRY_BYTES + TAG_BYTES);
    });
    return Buffer.concat([body, mac(this.secret, body)]).toString('base64url');
  }

  private fresh(entry: Entry, now: Date): boolean {
    const age = now.getTime() - entry.minute * 60_000;
    return age >= 0 && age < this.windowMs;
  }

  private tagOf(serial: string): Buffer {
    return createHmac('sha256', this.secret)
      .update(`tag\0${serial}`)
      .digest()
      .subarray(0, TAG_BYTES);
  }
}

function mac(secret: Uint8Array, body: Uint8Array): Buffer {
  return createHmac('sha256', secret).update('mac\0').update(body).digest().subarray(0, MAC_BYTES);
}
