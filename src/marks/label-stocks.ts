/**
 * Label stocks a batch can be printed on (GET /v1/mark-batches/{batchId}/labels.pdf?stock=): the
 * page, and where on it each label sits, in millimetres. Every label has the same layout whatever
 * the stock (./label-pdf): a 25 mm QR code, the serial in groups of four and the certificate line
 * under it, which needs a label of at least 40 × 34 mm.
 */

export interface LabelStock {
  readonly name: string;
  /** What a print shop would call it. */
  readonly description: string;
  readonly pageWidthMm: number;
  readonly pageHeightMm: number;
  readonly columns: number;
  readonly rows: number;
  readonly labelWidthMm: number;
  readonly labelHeightMm: number;
  /** The first label's top-left corner. */
  readonly leftMm: number;
  readonly topMm: number;
  /** From one label's top-left corner to the next one's (label plus gap). */
  readonly pitchXMm: number;
  readonly pitchYMm: number;
  /** Dashed cutting lines around each label: plain paper cut by hand, not die-cut stock. */
  readonly cutGuides: boolean;
  /** A line at the foot of each sheet naming the batch, its positions and the page. */
  readonly footer: boolean;
}

const A4 = { pageWidthMm: 210, pageHeightMm: 297 } as const;

export const labelStocks = {
  /** The sheet of labels.svg: 28 labels of 47.5 × 38.1 mm on plain A4 with cutting lines. */
  'a4-4x7': {
    name: 'a4-4x7',
    description: 'A4 sheet, 4 × 7 labels of 47.5 × 38.1 mm with cutting lines (as labels.svg)',
    ...A4,
    columns: 4,
    rows: 7,
    labelWidthMm: 47.5,
    labelHeightMm: (297 - 2 * 10 - 10) / 7,
    leftMm: 10,
    topMm: 10,
    pitchXMm: 47.5,
    pitchYMm: (297 - 2 * 10 - 10) / 7,
    cutGuides: true,
    footer: true,
  },
  /** Die-cut A4 sheets of 21 labels, 63.5 × 38.1 mm (the layout of Avery L7160 / J8160). */
  'a4-3x7': {
    name: 'a4-3x7',
    description: 'A4 die-cut sheet, 3 × 7 labels of 63.5 × 38.1 mm (Avery L7160 layout)',
    ...A4,
    columns: 3,
    rows: 7,
    labelWidthMm: 63.5,
    labelHeightMm: 38.1,
    leftMm: 7.2,
    topMm: 15.15,
    pitchXMm: 66,
    pitchYMm: 38.1,
    cutGuides: false,
    footer: true,
  },
  /** A roll of 60 × 40 mm labels for a thermal label printer: each page is one label. */
  'roll-60x40': {
    name: 'roll-60x40',
    description: 'Roll of 60 × 40 mm labels (thermal label printers), one label a page',
    pageWidthMm: 60,
    pageHeightMm: 40,
    columns: 1,
    rows: 1,
    labelWidthMm: 60,
    labelHeightMm: 40,
    leftMm: 0,
    topMm: 0,
    pitchXMm: 60,
    pitchYMm: 40,
    cutGuides: false,
    footer: false,
  },
} as const satisfies Record<string, LabelStock>;

export type LabelStockName = keyof typeof labelStocks;

export const labelStockNames = Object.keys(labelStocks) as [LabelStockName, ...LabelStockName[]];

export const labelsPerPage = (stock: LabelStock): number => stock.columns * stock.rows;
