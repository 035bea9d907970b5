import QRCode from 'qrcode';

/**
 * QR images. Mark URLs are upper-cased by their caller so the whole text encodes in QR
 * alphanumeric mode (SPEC "Product marks"); certificate verify URLs are encoded as they are.
 */
export interface QrOptions {
  errorCorrectionLevel?: 'L' | 'M' | 'Q' | 'H';
  /** Pixels per module for PNG. */
  scale?: number;
  margin?: number;
}

export async function qrSvg(text: string, options: QrOptions = {}): Promise<string> {
  return QRCode.toString(text, {
    type: 'svg',
    errorCorrectionLevel: options.errorCorrectionLevel ?? 'M',
    margin: options.margin ?? 4,
  });
}

export async function qrPng(text: string, options: QrOptions = {}): Promise<Buffer> {
  return QRCode.toBuffer(text, {
    type: 'png',
    errorCorrectionLevel: options.errorCorrectionLevel ?? 'M',
    margin: options.margin ?? 4,
    scale: options.scale ?? 8,
  });
}
