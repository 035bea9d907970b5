import { parentPort } from 'node:worker_threads';
import { createMarkCode } from '../crypto/mark-code';
import { renderMarkLines } from './mark-lines';
import { labelQr, type LabelQr } from './mark-qr';

/**
 * A signing task from MarkSignerPool: the codes of these serials under this key, either returned
 * as they are, already rendered as export lines (so the thread that serves requests only
 * forwards bytes), or as the QR codes of their URLs for printed labels.
 */
export interface SignTask {
  id: number;
  seed: Uint8Array;
  kid: string;
  serials: string[];
  render?: { format: 'ndjson' | 'csv' | 'label-qr'; baseUrl: string } | undefined;
}

export type SignResult =
  | { id: number; codes: string[] }
  | { id: number; bytes: Uint8Array }
  | { id: number; qrs: LabelQr[] }
  | { id: number; error: string };

const encoder = new TextEncoder();

// Runs in a worker thread: Ed25519 signing is CPU work, and a million marks would otherwise hold
// the event loop that answers requests for tens of seconds.
parentPort?.on('message', (task: SignTask) => {
  try {
    const codes = task.serials.map((serial) =>
      createMarkCode({ seed: task.seed, kid: task.kid, serial }),
    );
    if (!task.render) {
      parentPort?.postMessage({ id: task.id, codes } satisfies SignResult);
      return;
    }
    if (task.render.format === 'label-qr') {
      const prefix = `${task.render.baseUrl}/m/`;
      const qrs = codes.map((code) => labelQr(prefix + code));
      parentPort?.postMessage({ id: task.id, qrs } satisfies SignResult);
      return;
    }
    const bytes = encoder.encode(
      renderMarkLines(task.serials, codes, task.render.format, task.render.baseUrl),
    );
    parentPort?.postMessage({ id: task.id, bytes } satisfies SignResult, [bytes.buffer]);
  } catch (error) {
    parentPort?.postMessage({ id: task.id, error: (error as Error).message } satisfies SignResult);
  }
});
