/**
 * Deterministic JSON (RFC 8785-style key ordering) for digests and registry comparisons: object
 * keys sorted by UTF-16 code units, no whitespace, `undefined` members dropped (`null` in arrays,
 * as JSON.stringify writes them).
 *
 * Every audited write and every integrated audit entry serialises through here, so it builds one
 * string as it goes rather than arrays of entries and parts.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      out += canonicalJson(value[i] ?? null);
    }
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  // The default sort compares UTF-16 code units, the order RFC 8785 §3.2.3 asks for.
  const keys = Object.keys(record).sort();
  let out = '{';
  for (const key of keys) {
    const member = record[key];
    if (member === undefined) continue;
    if (out.length > 1) out += ',';
    out += `${JSON.stringify(key)}:${canonicalJson(member)}`;
  }
  return `${out}}`;
}
