import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import jsQR from 'jsqr';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labelStocks, type LabelStock } from '../../src/marks/label-stocks';
import { client, createTestContext, type Client, type TestContext } from '../helpers';
import { createIssuer, createRoleKey, issueCertificate, type IssuerFixture } from '../fixtures';
import { issueMarks, setBatchStatus, type IssuedMark } from './mark-helpers';

/**
 * Label PDFs (GET /v1/mark-batches/{batchId}/labels.pdf) read back with poppler, a PDF reader we
 * did not write: pdfinfo for the pages, pdftotext for the printed text, pdftoppm to render a page
 * whose QR codes jsQR then decodes and the service verifies.
 */

const run = promisify(execFile);
const popplerMissing = ['pdfinfo', 'pdftotext', 'pdftoppm'].filter((tool) => {
  try {
    execFileSync(tool, ['-v'], { stdio: 'ignore' });
    return false;
  } catch {
    return true;
  }
});
const withPoppler = popplerMissing.length
  ? `SKIPPED: poppler-utils missing (${popplerMissing.join(', ')} not found; apt-get install poppler-utils)`
  : 'read back with poppler';

const MARKS = 130;
const VOIDED_POSITION = 3;
const RENDER_DPI = 200;

describe(`label PDFs (${withPoppler})`, () => {
  let ctx: TestContext;
  let api: Client;
  let issuer: IssuerFixture;
  let cert: { id: string; number: string };
  let batch: { batchId: string; marks: IssuedMark[] };
  let dir: string;

  const fetchPdf = async (query: string, key = issuer.key, batchId = batch.batchId) => {
    const res = await ctx.app.request(`/v1/mark-batches/${batchId}/labels.pdf${query}`, {
      headers: { authorization: `Bearer ${key}` },
    });
    return { res, bytes: Buffer.from(await res.arrayBuffer()) };
  };
  /** Writes the PDF to a file for poppler. */
  const saved = (bytes: Buffer, name: string) => {
    const file = path.join(dir, `${name}.pdf`);
    fs.writeFileSync(file, bytes);
    return file;
  };
  const pdfInfo = async (file: string) => {
    const { stdout, stderr } = await run('pdfinfo', [file]);
    return {
      stderr,
      pages: Number(/^Pages:\s+(\d+)/m.exec(stdout)?.[1]),
      size: /^Page size:\s+([\d.]+) x ([\d.]+) pts/m.exec(stdout)!.slice(1, 3).map(Number),
    };
  };
  const pageText = async (file: string, page: number) =>
    (await run('pdftotext', ['-f', String(page), '-l', String(page), '-layout', file, '-'])).stdout;
  /** Renders one page and decodes the QR code of each label cell, left to right, top to bottom. */
  const decodeLabels = async (file: string, page: number, stock: LabelStock) => {
    const prefix = path.join(dir, `render-${path.basename(file)}-${page}`);
    await run('pdftoppm', [
      '-png',
      '-r',
      String(RENDER_DPI),
      '-f',
      String(page),
      '-l',
      String(page),
      '-singlefile',
      file,
      prefix,
    ]);
    const png = PNG.sync.read(fs.readFileSync(`${prefix}.png`));
    const px = (mm: number) => Math.round((mm * RENDER_DPI) / 25.4);
    const decoded: (string | null)[] = [];
    for (let row = 0; row < stock.rows; row++) {
      for (let column = 0; column < stock.columns; column++) {
        const x0 = px(stock.leftMm + column * stock.pitchXMm);
        const y0 = px(stock.topMm + row * stock.pitchYMm);
        const width = Math.min(px(stock.labelWidthMm), png.width - x0);
        const height = Math.min(px(stock.labelHeightMm), png.height - y0);
        const cell = new Uint8ClampedArray(width * height * 4);
        for (let y = 0; y < height; y++) {
          const from = ((y0 + y) * png.width + x0) * 4;
          cell.set(png.data.subarray(from, from + width * 4), y * width * 4);
        }
        decoded.push(jsQR(cell, width, height)?.data ?? null);
      }
    }
    return decoded;
  };
  const grouped = (serial: string) => serial.replace(/(\d{4})(?=\d)/g, '$1 ');

  beforeAll(async () => {
    ctx = await createTestContext();
    api = client(ctx.app);
    issuer = await createIssuer(ctx);
    cert = await issueCertificate(api, issuer.key);
    batch = await issueMarks(api, issuer.key, cert.id, { count: MARKS, lot: 'LOT-9' });
    const voided = await api.post(
      `/v1/marks/${batch.marks[VOIDED_POSITION - 1]!.serial}/void`,
      { reason: 'label destroyed' },
      issuer.key,
    );
    expect(voided.status).toBe(200);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmark-labels-'));
  });
  afterAll(async () => {
    fs.rmSync(dir, { recursive: true, force: true });
    await ctx.services.marks.close();
    await ctx.services.markVerification.close();
    await ctx.close();
  });

  it.skipIf(popplerMissing.length > 0)(
    'streams the whole batch as one valid PDF, with the page count and size of each stock',
    async () => {
      const expected = [
        ['', 'a4-4x7', Math.ceil(MARKS / 28)],
        ['?stock=a4-3x7', 'a4-3x7', Math.ceil(MARKS / 21)],
        ['?stock=roll-60x40', 'roll-60x40', MARKS],
      ] as const;
      // The batch links its PDF.
      const view = await api.get(`/v1/mark-batches/${batch.batchId}`, issuer.key);
      expect(view.body.links.labelsPdf).toBe(
        `https://certmark.test/v1/mark-batches/${batch.batchId}/labels.pdf`,
      );
      for (const [query, stockName, pages] of expected) {
        const { res, bytes } = await fetchPdf(query);
        expect(res.status, stockName).toBe(200);
        expect(res.headers.get('content-type')).toBe('application/pdf');
        expect(res.headers.get('cache-control')).toBe('no-store');
        expect(res.headers.get('x-total-pages')).toBe(String(pages));
        expect(bytes.subarray(0, 5).toString('latin1')).toBe('%PDF-');
        const info = await pdfInfo(saved(bytes, stockName));
        expect(info.stderr, stockName).toBe('');
        expect(info.pages, stockName).toBe(pages);
        const stock = labelStocks[stockName];
        expect(info.size.map(Math.round)).toEqual(
          [stock.pageWidthMm, stock.pageHeightMm].map((mm) => Math.round((mm * 72) / 25.4)),
        );
      }
    },
  );

  it.skipIf(popplerMissing.length > 0)(
    'prints QR codes that decode to mark URLs verifying authentic, each over its grouped serial, the void mark struck',
    async () => {
      const stock = labelStocks['a4-4x7'];
      const { bytes } = await fetchPdf('');
      const file = saved(bytes, 'decode');
      const decoded = await decodeLabels(file, 1, stock);
      const text = await pageText(file, 1);
      expect(decoded).toHaveLength(28);
      for (const [index, mark] of batch.marks.slice(0, 28).entries()) {
        // Every serial is printed in groups of four, the void one too (struck through).
        expect(text).toContain(grouped(mark.serial));
        if (index === VOIDED_POSITION - 1) {
          expect(decoded[index], 'a void mark has no QR code').toBeNull();
          continue;
        }
        expect(decoded[index], `label ${index + 1}`).toBe(mark.url.toUpperCase());
      }
      expect(text.match(/\bVOID\b/g)).toHaveLength(1);
      expect(text).toContain(`CCC ${cert.number}`);
      expect(text).toContain(`positions 1–28 · page 1 of ${Math.ceil(MARKS / 28)}`);
      // What a phone would open verifies; a sample keeps the scan counts of other tests alone.
      for (const index of [0, 13, 27]) {
        const res = await api.post('/v1/verify/mark', { code: decoded[index] });
        expect(res.body.verdict).toBe('authentic');
        expect(res.body.mark.serial).toBe(batch.marks[index]!.serial);
      }
    },
  );

  it.skipIf(popplerMissing.length > 0)(
    'prints a range of positions, and one label a page on a roll',
    async () => {
      const sheet = await fetchPdf('?stock=a4-3x7&from=29&to=50');
      expect(sheet.res.headers.get('x-total-pages')).toBe('2');
      const sheetFile = saved(sheet.bytes, 'range');
      expect((await pdfInfo(sheetFile)).pages).toBe(2);
      const decoded = await decodeLabels(sheetFile, 1, labelStocks['a4-3x7']);
      expect(decoded).toEqual(batch.marks.slice(28, 49).map((m) => m.url.toUpperCase()));
      const last = await pageText(sheetFile, 2);
      expect(last).toContain(grouped(batch.marks[49]!.serial));
      expect(last).toContain('positions 50–50 · page 2 of 2');
      expect(last).not.toContain(grouped(batch.marks[50]!.serial));

      const roll = await fetchPdf(`?stock=roll-60x40&from=${MARKS}&to=${MARKS}`);
      const rollFile = saved(roll.bytes, 'roll');
      expect((await pdfInfo(rollFile)).pages).toBe(1);
      expect(await decodeLabels(rollFile, 1, labelStocks['roll-60x40'])).toEqual([
        batch.marks[MARKS - 1]!.url.toUpperCase(),
      ]);
      expect(await pageText(rollFile, 1)).toContain(grouped(batch.marks[MARKS - 1]!.serial));
    },
  );

  it('refuses an unknown stock or a bad range, naming the parameter', async () => {
    for (const [query, status, code, field] of [
      ['?stock=letter', 400, 'validation_failed', 'query.stock'],
      ['?from=0', 400, 'validation_failed', 'query.from'],
      ['?to=abc', 400, 'validation_failed', 'query.to'],
      ['?from=1.5', 400, 'validation_failed', 'query.from'],
      ['?from=0x10', 400, 'validation_failed', 'query.from'],
      ['?from=%2B1', 400, 'validation_failed', 'query.from'],
      ['?to=1e1', 400, 'validation_failed', 'query.to'],
      // Blank is refused, not read as "to the end": an unset variable printed a million-mark roll.
      ['?from=1&to=', 400, 'validation_failed', 'query.to'],
      ['?from=&to=5', 400, 'validation_failed', 'query.from'],
      [`?from=${MARKS + 1}`, 422, 'label_range_invalid', 'query.from'],
      [`?to=${MARKS + 1}`, 422, 'label_range_invalid', 'query.to'],
      ['?from=10&to=9', 422, 'label_range_invalid', 'query.to'],
    ] as const) {
      const res = await api.get(`/v1/mark-batches/${batch.batchId}/labels.pdf${query}`, issuer.key);
      expect(res.status, query).toBe(status);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(res.body.code, query).toBe(code);
      expect(
        res.body.errors.map((e: { path: string }) => e.path),
        query,
      ).toContain(field);
    }
  });

  it('answers 409 for a batch that is not done, and only to the owning issuer', async () => {
    await setBatchStatus(ctx, batch.batchId, 'running');
    try {
      const res = await api.get(`/v1/mark-batches/${batch.batchId}/labels.pdf`, issuer.key);
      expect([res.status, res.body.code]).toEqual([409, 'batch_not_ready']);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
    } finally {
      await setBatchStatus(ctx, batch.batchId, 'done');
    }
    const other = await createIssuer(ctx, { name: 'Other Certification Body' });
    const supervisor = await createRoleKey(ctx, 'supervisor');
    const url = `/v1/mark-batches/${batch.batchId}/labels.pdf`;
    expect((await api.get(url)).status).toBe(401);
    for (const key of [other.key, supervisor, ctx.adminKey]) {
      const res = await api.get(url, key);
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('forbidden');
      expect(res.text).not.toContain(batch.marks[0]!.code);
    }
    const unknown = await api.get(`/v1/mark-batches/${crypto.randomUUID()}/labels.pdf`, issuer.key);
    expect(unknown.status).toBe(404);
  });
});
