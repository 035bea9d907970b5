import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CsvError, parse } from 'csv-parse';
import { AppError } from '../errors';
import type { ImportFormat } from '../db/schema/certificate-imports';

/** One row of an import file as received: a certificate in the SPEC's JSON shape, or why not. */
export interface ReceivedRow {
  /** 1-based: the NDJSON line, or the CSV record after the header. */
  row: number;
  /** The certificate as JSON text (an NDJSON line as sent; a CSV record in the SPEC's shape). */
  content: string | null;
  /** Why the row could not be read at all. */
  problem: string | null;
}

/** A row longer than this is refused: one certificate is at most a few kilobytes. */
export const MAX_ROW_BYTES = 1024 * 1024;

/**
 * The CSV header, by column name: the SPEC's field paths. A certificate's one scope item is
 * `scope.product`, `scope.models` and `scope.hsCode`; several are a JSON array in `scope` instead.
 * Lists in one cell (`scope.models`, `standards`) are separated by `|`; `factories` is a JSON array.
 */
export const CSV_COLUMNS = [
  'number',
  'scheme',
  'holder.name',
  'holder.uscc',
  'holder.country',
  'holder.address',
  'manufacturer.name',
  'manufacturer.uscc',
  'manufacturer.country',
  'manufacturer.address',
  'factories',
  'scope.product',
  'scope.models',
  'scope.hsCode',
  'scope',
  'standards',
  'validFrom',
  'validUntil',
  'quantity',
  'purpose',
  'signatory.name',
  'signatory.title',
] as const;
type CsvColumn = (typeof CSV_COLUMNS)[number];

/** Columns a header must name (scope as `scope`, or as `scope.product` with its `scope.models`). */
export const REQUIRED_CSV_COLUMNS: readonly CsvColumn[] = [
  'number',
  'scheme',
  'holder.name',
  'validFrom',
  'validUntil',
  'signatory.name',
];

const malformed = (message: string) => new AppError('malformed_import', message);

/**
 * The body's text, strictly UTF-8 (a byte sequence that is not is a 400, never U+FFFD stored and
 * signed), counted against `maxBytes` as it arrives (413 past it). A leading BOM is dropped.
 */
async function* utf8Text(
  body: AsyncIterable<Uint8Array>,
  limits: { maxBytes: number; onBytes: (n: number) => void },
): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let bytes = 0;
  try {
    for await (const chunk of body) {
      bytes += chunk.byteLength;
      if (bytes > limits.maxBytes) throw tooLarge(limits.maxBytes);
      limits.onBytes(bytes);
      const text = decoder.decode(chunk, { stream: true });
      if (text) yield text;
    }
    const rest = decoder.decode();
    if (rest) yield rest;
  } catch (error) {
    if (error instanceof TypeError) throw malformed('the file is not valid UTF-8 text');
    throw error;
  }
}

export const tooLarge = (maxBytes: number) =>
  new AppError(
    'payload_too_large',
    `an import is limited to ${maxBytes % 1048576 === 0 ? `${maxBytes / 1048576} MiB` : `${maxBytes} bytes`}`,
  );

/** NDJSON: each non-blank line a row, numbered by its line. */
async function* ndjsonRows(text: AsyncIterable<string>): AsyncGenerator<ReceivedRow> {
  let pending = '';
  let line = 0;
  const row = (raw: string): ReceivedRow | null => {
    line += 1;
    const content = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (content.trim() === '') return null;
    // PostgreSQL text cannot hold NUL: such a line is a bad row, not a failed upload.
    if (content.includes('\u0000'))
      return { row: line, content: null, problem: 'must not contain NUL (U+0000)' };
    return { row: line, content, problem: null };
  };
  for await (const chunk of text) {
    pending += chunk;
    let start = 0;
    let newline: number;
    while ((newline = pending.indexOf('\n', start)) >= 0) {
      const found = row(pending.slice(start, newline));
      start = newline + 1;
      if (found) yield found;
    }
    pending = pending.slice(start);
    if (pending.length > MAX_ROW_BYTES)
      throw malformed(`line ${line + 1} is longer than ${MAX_ROW_BYTES} bytes`);
  }
  const last = row(pending);
  if (last) yield last;
}

/** CSV: the header checked, then each record as the SPEC's JSON shape. */
async function* csvRows(text: AsyncIterable<string>): AsyncGenerator<ReceivedRow> {
  const parser = parse({
    bom: true,
    // Either line ending, in one file: a header saved with CRLF and records with LF (an edited
    // file) was read as one record, the delimiter being taken from the first line.
    record_delimiter: ['\r\n', '\n'],
    relax_column_count: true,
    skip_empty_lines: true,
    max_record_size: MAX_ROW_BYTES,
  });
  const feeding = pipeline(Readable.from(text), parser);
  // Its failure reaches the loop below through the parser; this keeps it from being unhandled.
  feeding.catch(() => {});
  let header: CsvColumn[] | undefined;
  let row = 0;
  try {
    for await (const record of parser as AsyncIterable<string[]>) {
      if (!header) {
        header = checkHeader(record);
        continue;
      }
      row += 1;
      if (record.length !== header.length) {
        yield {
          row,
          content: null,
          problem: `has ${record.length} fields where the header has ${header.length}`,
        };
        continue;
      }
      yield { row, content: JSON.stringify(certificateOfRecord(header, record)), problem: null };
    }
  } catch (error) {
    if (error instanceof AppError) throw error;
    // Every parser refusal is the file's fault (csv-parse's codes do not all begin with CSV_:
    // INVALID_OPENING_QUOTE, a quote inside an unquoted field, does not). Its message quotes the
    // field, so it is not passed on.
    if (error instanceof CsvError)
      throw malformed(`the CSV cannot be read after record ${row}: ${csvProblem(error.code)}`);
    throw error;
  }
  if (!header) throw malformed('the CSV has no header');
}

const csvProblem = (code: string) =>
  code === 'CSV_QUOTE_NOT_CLOSED'
    ? 'a quoted field is not closed'
    : code === 'CSV_MAX_RECORD_SIZE'
      ? `a record is longer than ${MAX_ROW_BYTES} bytes`
      : code === 'INVALID_OPENING_QUOTE'
        ? 'a quote inside a field that is not quoted (quote the whole field, doubling its quotes)'
        : 'it is not well-formed (RFC 4180)';

function checkHeader(record: string[]): CsvColumn[] {
  const names = record.map((name) => name.trim());
  const known = new Set<string>(CSV_COLUMNS);
  const unknown = names.filter((name) => !known.has(name));
  const repeated = names.filter((name, i) => names.indexOf(name) !== i);
  const missing = REQUIRED_CSV_COLUMNS.filter((name) => !names.includes(name));
  if (!names.includes('scope') && !names.includes('scope.product')) missing.push('scope');
  const errors = [
    ...unknown.map((name) => ({ path: name, message: 'not a column of the import header' })),
    ...repeated.map((name) => ({ path: name, message: 'named twice in the header' })),
    ...missing.map((name) => ({ path: name, message: 'missing from the header' })),
  ];
  if (errors.length > 0)
    throw new AppError('malformed_import', 'the CSV header is not the documented one', {
      errors,
    });
  return names as CsvColumn[];
}

const list = (cell: string) =>
  cell
    .split('|')
    .map((item) => item.trim())
    .filter((item) => item !== '');

/** A JSON cell: its value, or the text itself so that validation names the field. */
const jsonCell = (cell: string): unknown => {
  try {
    return JSON.parse(cell) as unknown;
  } catch {
    return cell;
  }
};

/** A CSV record in the SPEC's shape for POST /v1/certificates (an empty cell: not given). */
function certificateOfRecord(header: CsvColumn[], record: string[]): Record<string, unknown> {
  const cell = new Map<CsvColumn, string>();
  header.forEach((name, i) => {
    const value = record[i]!;
    if (value.trim() !== '') cell.set(name, value);
  });
  const party = (prefix: 'holder' | 'manufacturer') => {
    const p: Record<string, string> = {};
    for (const field of ['name', 'uscc', 'country', 'address'] as const) {
      const value = cell.get(`${prefix}.${field}`);
      if (value !== undefined) p[field] = value;
    }
    return p;
  };
  const certificate: Record<string, unknown> = {
    number: cell.get('number'),
    scheme: cell.get('scheme'),
    holder: party('holder'),
    validFrom: cell.get('validFrom'),
    validUntil: cell.get('validUntil'),
    signatory: {
      name: cell.get('signatory.name'),
      ...(cell.has('signatory.title') ? { title: cell.get('signatory.title') } : {}),
    },
  };
  const manufacturer = party('manufacturer');
  if (Object.keys(manufacturer).length > 0) certificate.manufacturer = manufacturer;
  if (cell.has('factories')) certificate.factories = jsonCell(cell.get('factories')!);
  if (cell.has('scope')) certificate.scope = jsonCell(cell.get('scope')!);
  else if (cell.has('scope.product') || cell.has('scope.models')) {
    certificate.scope = [
      {
        product: cell.get('scope.product'),
        ...(cell.has('scope.models') ? { models: list(cell.get('scope.models')!) } : {}),
        ...(cell.has('scope.hsCode') ? { hsCode: cell.get('scope.hsCode') } : {}),
      },
    ];
  }
  if (cell.has('standards')) certificate.standards = list(cell.get('standards')!);
  const quantity = cell.get('quantity');
  // A number when it reads as one; otherwise the text, which validation then refuses by name.
  if (quantity !== undefined)
    certificate.quantity = /^\s*\d{1,15}\s*$/.test(quantity) ? Number(quantity) : quantity;
  if (cell.has('purpose')) certificate.purpose = cell.get('purpose');
  return certificate;
}

/** The rows of an import body of `format`, read as they arrive. */
export function receivedRows(
  format: ImportFormat,
  body: AsyncIterable<Uint8Array>,
  limits: { maxBytes: number; onBytes: (n: number) => void },
): AsyncGenerator<ReceivedRow> {
  const text = utf8Text(body, limits);
  return format === 'ndjson' ? ndjsonRows(text) : csvRows(text);
}
