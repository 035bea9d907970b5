import PDFDocument from 'pdfkit';
import { groupSerial } from '../crypto/mark-scan';
import type { LabelQr } from './mark-qr';
import { labelsPerPage, type LabelStock } from './label-stocks';

/**
 * A label PDF written page by page (GET /v1/mark-batches/{batchId}/labels.pdf): each label the
 * mark's QR code drawn as vector rectangles (no image: it prints sharp at any resolution), the
 * serial in groups of four (what a person types when the QR cannot be scanned) and the certificate
 * line. A void mark keeps its place, struck through: a crossed box where its QR would be, VOID, and
 * its serial crossed out, so every sheet still holds the positions its footer names.
 *
 * pdfkit writes a page out when the next one is begun and never holds more than one, so memory
 * stays flat however many pages the document has; the caller takes the bytes with
 * {@link LabelPdf.takeBytes} as it goes, at the pace of whoever reads them.
 */

export interface PdfLabel {
  serial: string;
  /** The QR code of the mark's URL; undefined for a void mark (printed struck, without a code). */
  qr: LabelQr | undefined;
}

export interface LabelPdfOptions {
  stock: LabelStock;
  /** Under each serial, e.g. "CCC 2024010701234567" (ASCII: scheme and number). */
  certificateLine: string;
  /** The document's title (PDF Info). */
  title: string;
}

const POINTS_PER_MM = 72 / 25.4;
const pt = (mm: number) => mm * POINTS_PER_MM;

/** QR side including its 4-module quiet zone, as on labels.svg: ~0.5 mm modules at version 6. */
const QR_MM = 25;
const QUIET_ZONE_MODULES = 4;
/** Serial text (Courier-Bold: one width for every digit, as typed) and certificate line sizes. */
const SERIAL_PT = pt(3.4);
const CERTIFICATE_PT = pt(2.5);
/** The QR, the serial and the certificate line, stacked: centred in the label. */
const BLOCK_MM = QR_MM + 8.4;
const FOOTER_PT = 7;

export class LabelPdf {
  private readonly doc: PDFKit.PDFDocument;
  private readonly stock: LabelStock;
  private readonly certificateLine: string;
  private readonly certificatePt: number;
  private pages = 0;

  constructor(options: LabelPdfOptions) {
    this.stock = options.stock;
    this.doc = new PDFDocument({
      autoFirstPage: false,
      size: [pt(options.stock.pageWidthMm), pt(options.stock.pageHeightMm)],
      margin: 0,
      compress: true,
      info: { Title: options.title, Creator: 'certmark' },
    });
    this.certificateLine = options.certificateLine;
    // A 64-character certificate number would run over a 47.5 mm label: shrink it to fit.
    this.doc.font('Helvetica').fontSize(CERTIFICATE_PT);
    const room = pt(options.stock.labelWidthMm - 3);
    const width = this.doc.widthOfString(this.certificateLine);
    this.certificatePt = width > room ? (CERTIFICATE_PT * room) / width : CERTIFICATE_PT;
  }

  /** Pages begun so far. */
  get pageCount(): number {
    return this.pages;
  }

  /** One page of at most a page's worth of labels, in order, left to right and top to bottom. */
  addPage(labels: readonly PdfLabel[], footer: string): void {
    const { doc, stock } = this;
    const previous = this.pages > 0 ? doc.page : undefined;
    doc.addPage();
    this.pages += 1;
    // Beginning this page wrote the previous one out, but the page tree keeps its dictionary (with
    // its contents and resources) until the end, ~1 KB a page: a million-label roll would hold a
    // gigabyte. Only its reference ("n 0 R") is still needed, so it keeps nothing else.
    if (previous) previous.dictionary.data = {} as PDFKit.PDFKitReference['data'];
    labels.slice(0, labelsPerPage(stock)).forEach((label, index) => {
      const x = stock.leftMm + (index % stock.columns) * stock.pitchXMm;
      const y = stock.topMm + Math.floor(index / stock.columns) * stock.pitchYMm;
      this.drawLabel(label, x, y);
    });
    if (stock.footer) {
      doc.font('Helvetica').fontSize(FOOTER_PT).fillColor('#555555');
      const footerY = pt(stock.pageHeightMm - Math.min(stock.topMm, 10) / 2) - FOOTER_PT / 2;
      doc.text(footer, (pt(stock.pageWidthMm) - doc.widthOfString(footer)) / 2, footerY, {
        lineBreak: false,
      });
      doc.fillColor('black');
    }
  }

  /** Ends the document: its last page, the page tree and the cross-reference table follow. */
  end(): void {
    this.doc.end();
  }

  /** The bytes written since the last call, or undefined when none are waiting. */
  takeBytes(): Uint8Array | undefined {
    // pdfkit is a Readable that pushes as it writes; never switched to flowing mode, read() hands
    // over everything buffered at once.
    const chunk = this.doc.read() as Buffer | null;
    return chunk ?? undefined;
  }

  private drawLabel(label: PdfLabel, xMm: number, yMm: number): void {
    const { doc, stock } = this;
    if (stock.cutGuides) {
      doc
        .save()
        .lineWidth(0.3)
        .dash(2.8, { space: 2.8 })
        .strokeColor('#bbbbbb')
        .rect(pt(xMm), pt(yMm), pt(stock.labelWidthMm), pt(stock.labelHeightMm))
        .stroke()
        .restore();
    }
    const centreX = pt(xMm + stock.labelWidthMm / 2);
    const qrX = xMm + (stock.labelWidthMm - QR_MM) / 2;
    const qrY = yMm + (stock.labelHeightMm - BLOCK_MM) / 2;
    const serial = groupSerial(label.serial);
    if (label.qr) {
      const module = pt(QR_MM) / (label.qr.size + 2 * QUIET_ZONE_MODULES);
      doc
        .save()
        .transform(
          module,
          0,
          0,
          module,
          pt(qrX) + QUIET_ZONE_MODULES * module,
          pt(qrY) + QUIET_ZONE_MODULES * module,
        )
        .addContent(label.qr.rectangles)
        .fill('black')
        .restore();
    } else {
      // A void mark: no code to scan, the box crossed out and VOID in it.
      const box = { x: pt(qrX + 2), y: pt(qrY + 2), side: pt(QR_MM - 4) };
      doc
        .save()
        .lineWidth(1)
        .strokeColor('black')
        .rect(box.x, box.y, box.side, box.side)
        .moveTo(box.x, box.y)
        .lineTo(box.x + box.side, box.y + box.side)
        .moveTo(box.x + box.side, box.y)
        .lineTo(box.x, box.y + box.side)
        .stroke()
        .restore();
      doc.font('Helvetica-Bold').fontSize(16);
      const word = 'VOID';
      const wordWidth = doc.widthOfString(word);
      doc
        .rect(centreX - wordWidth / 2 - 2, box.y + box.side / 2 - 10, wordWidth + 4, 18)
        .fill('white')
        .fillColor('black')
        .text(word, centreX - wordWidth / 2, box.y + box.side / 2 - 8, { lineBreak: false });
    }
    doc.font('Courier-Bold').fontSize(SERIAL_PT);
    const serialWidth = doc.widthOfString(serial);
    const serialY = pt(qrY + QR_MM + 0.6);
    doc.text(serial, centreX - serialWidth / 2, serialY, { lineBreak: false });
    if (!label.qr) {
      const strikeY = serialY + SERIAL_PT * 0.45;
      doc
        .save()
        .lineWidth(1)
        .moveTo(centreX - serialWidth / 2 - 1, strikeY)
        .lineTo(centreX + serialWidth / 2 + 1, strikeY)
        .stroke()
        .restore();
    }
    doc.font('Helvetica').fontSize(this.certificatePt);
    doc.text(
      this.certificateLine,
      centreX - doc.widthOfString(this.certificateLine) / 2,
      pt(qrY + QR_MM + 4.6),
      { lineBreak: false },
    );
  }
}
