import { groupSerial } from '../crypto/mark-scan';
import { markQrMatrix, qrPathData } from './mark-qr';

/**
 * Printable label sheets: A4 pages of mark labels, each the QR code, the serial in groups of four
 * (what a person types when the QR cannot be scanned) and the certificate it belongs to. Pure SVG
 * in millimetres, so it prints at true size from any browser or `rsvg-convert`.
 */

const PAGE_WIDTH_MM = 210;
const PAGE_HEIGHT_MM = 297;
const MARGIN_MM = 10;
const COLUMNS = 4;
const ROWS = 7;
/** 28 labels of 47.5 × 38.1 mm a page. */
export const LABELS_PER_PAGE = COLUMNS * ROWS;
const CELL_WIDTH_MM = (PAGE_WIDTH_MM - 2 * MARGIN_MM) / COLUMNS;
const CELL_HEIGHT_MM = (PAGE_HEIGHT_MM - 2 * MARGIN_MM - 10) / ROWS;
/** QR side including its 4-module quiet zone: ~0.5 mm modules at version 6, fine for phone cameras. */
const QR_MM = 25;

export interface Label {
  serial: string;
  /** The mark's URL, which its QR code holds; undefined for a void mark (struck, no code). */
  url: string | undefined;
}

export interface LabelSheetInput {
  labels: readonly Label[];
  /** Printed under each serial, e.g. "CCC 2024010701234567". */
  certificateLine: string;
  /** Footer: which batch, lot and page this is. */
  footer: string;
}

/**
 * Text as XML 1.0 character data: markup escaped, and every character XML cannot hold at all
 * (C0 controls but tab, LF and CR; lone surrogates; U+FFFE and U+FFFF) left out, so a lot or an
 * issuer name stored before the text floor existed still yields a well-formed sheet.
 */
const escapeXml = (text: string) =>
  text
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(
      /[<>&"']/g,
      (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c]!,
    );

const mm = (n: number) => Number(n.toFixed(3));

/** A mark's QR code, its quiet zone inside the `QR_MM` square at (x, y). */
function qrCode(url: string, x: number, y: number): string[] {
  const matrix = markQrMatrix(url);
  const moduleMm = QR_MM / (matrix.size + 8);
  return [
    `<path transform="translate(${mm(x + 4 * moduleMm)} ${mm(y + 4 * moduleMm)}) scale(${mm(moduleMm)})" shape-rendering="crispEdges" d="${qrPathData(matrix)}"/>`,
  ];
}

/**
 * A void mark in its place, as the PDF prints it: no code to scan, the box crossed out with VOID
 * in it, and the serial (written after this) struck through.
 */
function voidMark(x: number, y: number, centreX: number, serialY: number): string[] {
  const side = QR_MM - 4;
  const [left, top] = [x + 2, y + 2];
  return [
    `<g fill="none" stroke="#000" stroke-width="0.35">`,
    `<rect x="${mm(left)}" y="${mm(top)}" width="${mm(side)}" height="${mm(side)}"/>`,
    `<path d="M${mm(left)} ${mm(top)}L${mm(left + side)} ${mm(top + side)}M${mm(left + side)} ${mm(top)}L${mm(left)} ${mm(top + side)}"/>`,
    `</g>`,
    `<rect x="${mm(centreX - 7)}" y="${mm(top + side / 2 - 3.2)}" width="14" height="6" fill="#fff"/>`,
    `<text x="${mm(centreX)}" y="${mm(top + side / 2 + 1.8)}" font-size="5" font-weight="bold" font-family="sans-serif">VOID</text>`,
    `<line x1="${mm(centreX - 19)}" y1="${mm(serialY - 1.2)}" x2="${mm(centreX + 19)}" y2="${mm(serialY - 1.2)}" stroke="#000" stroke-width="0.3"/>`,
  ];
}

export function labelSheetSvg(input: LabelSheetInput): string {
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${PAGE_WIDTH_MM}mm" height="${PAGE_HEIGHT_MM}mm" viewBox="0 0 ${PAGE_WIDTH_MM} ${PAGE_HEIGHT_MM}">`,
    `<rect width="${PAGE_WIDTH_MM}" height="${PAGE_HEIGHT_MM}" fill="#fff"/>`,
    `<g font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" fill="#000" text-anchor="middle">`,
  ];
  input.labels.slice(0, LABELS_PER_PAGE).forEach((label, index) => {
    const x = MARGIN_MM + (index % COLUMNS) * CELL_WIDTH_MM;
    const y = MARGIN_MM + Math.floor(index / COLUMNS) * CELL_HEIGHT_MM;
    const qrX = x + (CELL_WIDTH_MM - QR_MM) / 2;
    const qrY = y + 2;
    const centreX = x + CELL_WIDTH_MM / 2;
    const serialY = qrY + QR_MM + 3.6;
    out.push(
      `<g>`,
      // Cutting guide.
      `<rect x="${mm(x)}" y="${mm(y)}" width="${mm(CELL_WIDTH_MM)}" height="${mm(CELL_HEIGHT_MM)}" fill="none" stroke="#bbb" stroke-width="0.1" stroke-dasharray="1 1"/>`,
      ...(label.url === undefined
        ? voidMark(qrX, qrY, centreX, serialY)
        : qrCode(label.url, qrX, qrY)),
      `<text x="${mm(centreX)}" y="${mm(serialY)}" font-size="3.4" font-weight="bold">${escapeXml(groupSerial(label.serial))}</text>`,
      `<text x="${mm(x + CELL_WIDTH_MM / 2)}" y="${mm(qrY + QR_MM + 7.4)}" font-size="2.5">${escapeXml(input.certificateLine)}</text>`,
      `</g>`,
    );
  });
  out.push(
    `</g>`,
    `<text x="${PAGE_WIDTH_MM / 2}" y="${PAGE_HEIGHT_MM - MARGIN_MM / 2}" font-family="sans-serif" font-size="2.5" fill="#555" text-anchor="middle">${escapeXml(input.footer)}</text>`,
    `</svg>\n`,
  );
  return out.join('\n');
}
