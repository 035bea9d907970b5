import QRCode, { type QRCodeSegment } from 'qrcode';

/**
 * QR codes of marks (SPEC "Product marks"). The QR holds the mark URL upper-cased, so the whole
 * text is in QR alphanumeric mode (5.5 bits a character instead of 8): with a base URL of up to 30
 * characters, "/M/" and the 120-character code, that fits version 6 at error correction M
 * (41×41 modules), small enough for a product label. Scheme and host are case-insensitive, and the
 * service answers `/M/{code}` and any letter case of the code. A base URL with characters outside
 * the alphanumeric set (lower case aside) falls back to byte mode, which is larger but correct.
 */

/** QR alphanumeric mode's 45 characters (ISO/IEC 18004 section 7.4.4). */
const ALPHANUMERIC = /^[0-9A-Z $%*+\-./:]*$/;

export const MARK_QR_ERROR_CORRECTION = 'M' as const;

export function markQrSegments(url: string): QRCodeSegment[] {
  const upper = url.toUpperCase();
  return ALPHANUMERIC.test(upper)
    ? [{ data: upper, mode: 'alphanumeric' }]
    : [{ data: Buffer.from(url, 'utf8'), mode: 'byte' }];
}

/** The module matrix (true = dark), without quiet zone. */
export interface QrMatrix {
  readonly size: number;
  readonly version: number;
  isDark(row: number, column: number): boolean;
}

export function markQrMatrix(url: string): QrMatrix {
  const qr = QRCode.create(markQrSegments(url), { errorCorrectionLevel: MARK_QR_ERROR_CORRECTION });
  const { size, data } = qr.modules;
  return { size, version: qr.version, isDark: (row, column) => data[row * size + column] === 1 };
}

/** Each horizontal run of dark modules, row by row: its row, first column and length. */
function* darkRuns(matrix: QrMatrix): Generator<{ row: number; column: number; run: number }> {
  for (let row = 0; row < matrix.size; row++) {
    for (let column = 0; column < matrix.size; column++) {
      if (!matrix.isDark(row, column)) continue;
      let run = 1;
      while (column + run < matrix.size && matrix.isDark(row, column + run)) run++;
      yield { row, column, run };
      column += run - 1;
    }
  }
}

/**
 * The dark modules as one SVG path in module units (a run of dark modules in a row is one
 * rectangle), to be placed and scaled by the caller.
 */
export function qrPathData(matrix: QrMatrix): string {
  const parts: string[] = [];
  for (const { row, column, run } of darkRuns(matrix)) {
    parts.push(`M${column} ${row}h${run}v1h-${run}z`);
  }
  return parts.join('');
}

/**
 * The dark modules as PDF rectangle operators (ISO 32000-1 §8.5.2.1 `re`), in module units with
 * rows counted downward as in {@link qrPathData} (pdfkit's page space has y pointing down), one
 * rectangle a run, to be placed, scaled and filled by the caller: label PDFs draw their QR codes
 * as vector paths, never as images.
 */
export function qrPdfRectangles(matrix: QrMatrix): string {
  const parts: string[] = [];
  for (const { row, column, run } of darkRuns(matrix)) parts.push(`${column} ${row} ${run} 1 re`);
  return parts.join('\n');
}

/** A mark's QR code ready to draw on a label: its side in modules and its dark modules. */
export interface LabelQr {
  /** Modules a side, without the quiet zone. */
  readonly size: number;
  /** {@link qrPdfRectangles} of the matrix. */
  readonly rectangles: string;
}

export function labelQr(url: string): LabelQr {
  const matrix = markQrMatrix(url);
  return { size: matrix.size, rectangles: qrPdfRectangles(matrix) };
}

/** One mark's QR as a standalone SVG (4-module quiet zone). */
export function markQrSvg(url: string): string {
  const matrix = markQrMatrix(url);
  const full = matrix.size + 8;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${full} ${full}" shape-rendering="crispEdges">` +
    `<rect width="${full}" height="${full}" fill="#fff"/>` +
    `<path transform="translate(4 4)" fill="#000" d="${qrPathData(matrix)}"/></svg>\n`
  );
}

export async function markQrPng(url: string, scale = 8): Promise<Buffer> {
  return QRCode.toBuffer(markQrSegments(url), {
    type: 'png',
    errorCorrectionLevel: MARK_QR_ERROR_CORRECTION,
    margin: 4,
    scale,
  });
}
