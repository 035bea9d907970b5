/**
 * The floor every string from outside must clear before it reaches the database or a document
 * (SPEC "Identifiers and validation": every bad input is a 400, never a 5xx). Fields add their own
 * rules on top (lengths, patterns, single-line text); this is what no field may hold:
 *
 * - NUL: PostgreSQL `text` and `jsonb` cannot store it (the insert fails).
 * - other C0 controls except tab, LF and CR: XML 1.0 (the SVG label sheets) cannot hold them.
 * - lone surrogates: not Unicode at all. Node would write them as U+FFFD (the stored text silently
 *   differs from what was signed) and `jsonb` refuses their `\uD800` escapes.
 * - noncharacters (U+FFFE, U+FFFF, U+FDD0–U+FDEF, …): not for interchange; XML refuses U+FFFE/U+FFFF.
 * - U+FFFD: what a decoder leaves where the request's bytes were not valid UTF-8. A certificate
 *   holder's name is never meant to contain it; storing and signing it would record a corruption.
 * - bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069): they make text
 *   read otherwise on a page or a label than it is stored and signed (a holder's name shown
 *   reversed after U+202E). Right-to-left text itself, and the marks U+200E/U+200F, stay allowed.
 */
const UNSTORABLE =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F]|\p{Cs}|\p{Noncharacter_Code_Point}|\uFFFD|[\u202A-\u202E\u2066-\u2069]/u;

/** Why `text` cannot be stored or printed, or null when it can. */
export function unstorableTextProblem(text: string): string | null {
  const found = UNSTORABLE.exec(text)?.[0];
  if (found === undefined) return null;
  const code = found.codePointAt(0)!;
  if (code === 0) return 'must not contain NUL (U+0000)';
  if (code < 0x20) return `must not contain control characters (U+${hex(code)})`;
  if (code >= 0xd800 && code <= 0xdfff) return 'must be valid Unicode (it holds a lone surrogate)';
  if (code === 0xfffd) return 'must be valid UTF-8 text (it holds U+FFFD, a decoding error)';
  if ((code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069))
    return `must not contain bidirectional controls (U+${hex(code)})`;
  return `must not contain Unicode noncharacters (U+${hex(code)})`;
}

const hex = (code: number) => code.toString(16).toUpperCase().padStart(4, '0');

const UNQUOTABLE = new RegExp(`${UNSTORABLE.source}|[\\u007F-\\u009F]`, 'gu');

/**
 * Something a client sent, as an answer may quote it back (an unknown parameter's name): what the
 * floor refuses, DEL and the C1 controls as `\u{…}` escapes, and at most `max` characters, then
 * `…`. A name sent with U+202E or NUL is named, not replayed.
 */
export function quotableText(text: string, max = 64): string {
  const chars = [...text];
  const shown = chars
    .slice(0, max)
    .join('')
    .replace(UNQUOTABLE, (c) => `\\u{${hex(c.codePointAt(0)!)}}`);
  return chars.length > max ? `${shown}…` : shown;
}

/** `text` without the characters {@link unstorableTextProblem} refuses (for text kept as evidence). */
export function storableText(text: string): string {
  return text.replace(new RegExp(UNSTORABLE.source, 'gu'), '');
}

/**
 * The first string (or object key) inside `value` that cannot be stored, with its dotted path.
 * Walks plain objects and arrays only: what a JSON body, a query or path parameters parse into.
 */
export function findUnstorableText(
  value: unknown,
  path: readonly (string | number)[] = [],
): { path: (string | number)[]; message: string } | null {
  if (typeof value === 'string') {
    const message = unstorableTextProblem(value);
    return message ? { path: [...path], message } : null;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findUnstorableText(value[i], [...path, i]);
      if (found) return found;
    }
    return null;
  }
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    for (const [key, inner] of Object.entries(value)) {
      const keyProblem = unstorableTextProblem(key);
      if (keyProblem)
        return { path: [...path, storableText(key)], message: `field names ${keyProblem}` };
      const found = findUnstorableText(inner, [...path, key]);
      if (found) return found;
    }
  }
  return null;
}
