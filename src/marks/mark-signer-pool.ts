import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { createMarkCode } from '../crypto/mark-code';
import { renderMarkLines } from './mark-lines';
import { labelQr, type LabelQr } from './mark-qr';
import type { SignResult, SignTask } from './mark-signer.worker';

export interface MarkSignerPoolOptions {
  /** Worker threads; defaults to the number of cores, at most 2. */
  readonly size?: number;
  /** Fewer serials than this are signed on the calling thread (a worker round trip costs more). */
  readonly inlineBelow?: number;
  /** Fewer label QR codes than this are encoded on the calling thread (each costs ~0.4 ms). */
  readonly qrInlineBelow?: number;
  /** Idle workers are stopped after this long. */
  readonly idleMs?: number;
}

type TaskOutput = string[] | Uint8Array | LabelQr[];

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve: (output: TaskOutput) => void; reject: (error: Error) => void }>;
}

export interface RenderOptions {
  format: 'ndjson' | 'csv';
  /** PUBLIC_BASE_URL: each line's url is `{baseUrl}/m/{code}`. */
  baseUrl: string;
}

const encoder = new TextEncoder();

/** Signs serially on this thread: small batches, or when workers cannot start. */
export function signInline(seed: Uint8Array, kid: string, serials: readonly string[]): string[] {
  return serials.map((serial) => createMarkCode({ seed, kid, serial }));
}

/**
 * Ed25519 signing of mark codes on worker threads (about 20 µs a code, so a million-mark export is
 * ~20 s of CPU: spread over the cores and off the event loop). Codes are never stored; a batch's
 * codes are re-derived here whenever they are exported or printed. Workers start on first use,
 * hold no reference that keeps the process alive while idle, and stop after `idleMs` idle. If a
 * worker cannot start, signing falls back to this thread: slower, same codes.
 */
export class MarkSignerPool {
  private slots: Slot[] = [];
  private nextTaskId = 1;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly size: number;
  private readonly inlineBelow: number;
  private readonly qrInlineBelow: number;
  private readonly idleMs: number;
  private workersBroken = false;
  private signedOnWorkers = 0;

  constructor(options: MarkSignerPoolOptions = {}) {
    this.size = Math.max(1, options.size ?? Math.min(2, availableParallelism()));
    this.inlineBelow = options.inlineBelow ?? 2_000;
    this.qrInlineBelow = options.qrInlineBelow ?? 100;
    this.idleMs = options.idleMs ?? 15_000;
  }

  /** The codes of `serials` under the key (`seed`, `kid`), in order. */
  async sign(seed: Uint8Array, kid: string, serials: readonly string[]): Promise<string[]> {
    if (serials.length < this.inlineBelow || this.workersBroken)
      return signInline(seed, kid, serials);
    const parts = await this.onWorkers(seed, kid, serials, undefined).catch(() => undefined);
    return parts ? (parts as string[][]).flat() : signInline(seed, kid, serials);
  }

  /**
   * The export lines of `serials` (NDJSON or CSV, UTF-8), signed and rendered on the workers so
   * the thread serving requests only forwards bytes.
   */
  async render(
    seed: Uint8Array,
    kid: string,
    serials: readonly string[],
    render: RenderOptions,
  ): Promise<Uint8Array[]> {
    const inline = () => [
      encoder.encode(
        renderMarkLines(serials, signInline(seed, kid, serials), render.format, render.baseUrl),
      ),
    ];
    if (serials.length < this.inlineBelow || this.workersBroken) return inline();
    const parts = await this.onWorkers(seed, kid, serials, render).catch(() => undefined);
    return parts ? (parts as Uint8Array[]) : inline();
  }

  /**
   * The QR codes of the marks' URLs (`{baseUrl}/m/{code}`) for printed labels, signed and encoded
   * on the workers: choosing a QR code's mask (ISO/IEC 18004 §7.8.3) costs ~0.4 ms a mark, twenty
   * times the signature, and is most of the CPU a label PDF takes.
   */
  async labelQrs(
    seed: Uint8Array,
    kid: string,
    serials: readonly string[],
    baseUrl: string,
  ): Promise<LabelQr[]> {
    const inline = () =>
      signInline(seed, kid, serials).map((code) => labelQr(`${baseUrl}/m/${code}`));
    if (serials.length < this.qrInlineBelow || this.workersBroken) return inline();
    const parts = await this.onWorkers(seed, kid, serials, { format: 'label-qr', baseUrl }).catch(
      () => undefined,
    );
    return parts ? (parts as LabelQr[][]).flat() : inline();
  }

  /** Splits the task over the workers; on a worker failure, gives up on workers for good. */
  private async onWorkers(
    seed: Uint8Array,
    kid: string,
    serials: readonly string[],
    render: SignTask['render'],
  ): Promise<TaskOutput[]> {
    try {
      const slots = this.ensureWorkers();
      const part = Math.ceil(serials.length / slots.length);
      const parts = await Promise.all(
        slots.map((slot, i) =>
          this.run(slot, { seed, kid, serials: serials.slice(i * part, (i + 1) * part), render }),
        ),
      );
      this.signedOnWorkers += serials.length;
      return parts;
    } catch (error) {
      this.workersBroken = true;
      await this.close();
      throw error;
    } finally {
      this.armIdleTimer();
    }
  }

  /** Workers running now, codes they have signed, and whether they could not start (inline fallback). */
  stats(): { workers: number; signedOnWorkers: number; fallenBack: boolean } {
    return {
      workers: this.slots.length,
      signedOnWorkers: this.signedOnWorkers,
      fallenBack: this.workersBroken,
    };
  }

  /** Stops the workers (they restart on the next big task). */
  async close(): Promise<void> {
    clearTimeout(this.idleTimer);
    const slots = this.slots;
    this.slots = [];
    await Promise.all(slots.map((slot) => slot.worker.terminate().catch(() => 0)));
  }

  private ensureWorkers(): Slot[] {
    clearTimeout(this.idleTimer);
    while (this.slots.length < this.size) {
      const worker = new Worker(new URL('./mark-signer.worker.mjs', import.meta.url));
      const slot: Slot = { worker, pending: new Map() };
      worker.on('message', (result: SignResult) => {
        const task = slot.pending.get(result.id);
        if (!task) return;
        slot.pending.delete(result.id);
        if (slot.pending.size === 0) worker.unref();
        if ('error' in result) task.reject(new Error(result.error));
        else
          task.resolve(
            'bytes' in result ? result.bytes : 'qrs' in result ? result.qrs : result.codes,
          );
      });
      const fail = (error: Error) => {
        for (const task of slot.pending.values()) task.reject(error);
        slot.pending.clear();
        this.slots = this.slots.filter((s) => s !== slot);
      };
      worker.on('error', fail);
      worker.on('exit', (code) => fail(new Error(`mark signer exited (${code})`)));
      worker.unref();
      this.slots.push(slot);
    }
    return this.slots;
  }

  private run(slot: Slot, task: Omit<SignTask, 'id'>): Promise<TaskOutput> {
    if (task.serials.length === 0)
      return Promise.resolve(
        task.render && task.render.format !== 'label-qr' ? new Uint8Array(0) : [],
      );
    const id = this.nextTaskId++;
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      // Referenced while it works, so a process with nothing else to do still waits for it.
      slot.worker.ref();
      slot.worker.postMessage({ id, ...task } satisfies SignTask);
    });
  }

  private busy(): boolean {
    return this.slots.some((slot) => slot.pending.size > 0);
  }

  private armIdleTimer(): void {
    clearTimeout(this.idleTimer);
    if (this.slots.length === 0 || this.busy()) return;
    this.idleTimer = setTimeout(() => {
      if (!this.busy()) void this.close();
    }, this.idleMs);
    this.idleTimer.unref();
  }
}
