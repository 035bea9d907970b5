/**
 * The export lines of marks (GET /v1/mark-batches/{batchId}/marks): pure, shared by the signing
 * workers and the inline path.
 */

/** One export line per mark: NDJSON `{"serial","code","url"}` or a CSV row. */
export function renderMarkLines(
  serials: readonly string[],
  codes: readonly string[],
  format: 'ndjson' | 'csv',
  baseUrl: string,
): string {
  // Serials are digits and codes base32, so only the base URL could need JSON escaping.
  const urlPrefix =
    format === 'ndjson' ? JSON.stringify(`${baseUrl}/m/`).slice(0, -1) : `${baseUrl}/m/`;
  let text = '';
  for (let i = 0; i < serials.length; i++) {
    text +=
      format === 'csv'
        ? `${serials[i]},${codes[i]},${urlPrefix}${codes[i]}\r\n`
        : `{"serial":"${serials[i]}","code":"${codes[i]}","url":${urlPrefix}${codes[i]}"}\n`;
  }
  return text;
}
