import type { RegisteredScan, ScanToRegister } from './scan-registration.queries';

export interface ScanBatcherOptions {
  /** Statements in flight at once; further scans wait and go together in the next one. */
  readonly maxInFlight?: number;
  /** Scans per statement. */
  readonly maxBatch?: number;
  /** Told after each counting statement that succeeded: how long it took and how many scans. */
  readonly onCounted?: ((seconds: number, scans: number) => void) | undefined;
}

interface Waiting {
  scan: ScanToRegister;
  resolve: (row: RegisteredScan | undefined) => void;
  reject: (error: unknown) => void;
}

/** PostgreSQL deadlock_detected: two statements locked the same marks in opposite orders. */
const DEADLOCK = '40P01';

/** SQLSTATE class 22, data exception: a value the statement was given could not be computed on. */
function isDataException(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('22');
}

/**
 * Counts scans in as few statements as the load allows. The scans of one turn of the event loop
 * (the requests read from the sockets together) go to the database together at its end, while
 * fewer than `maxInFlight` statements are running, so a lone scan waits for nothing but that turn;
 * under load the scans that arrive while statements run are sent together in the next one. Each
 * statement costs a round trip, a transaction and a commit, in Node and in PostgreSQL alike:
 * sharing them is what lets one process answer thousands of scans a second.
 *
 * Two statements in flight: while one runs, the next gathers what arrives. More only make the
 * groups smaller, and sending each scan the moment a statement slot is free made most groups a
 * single scan (bench/mark-verify.ts: 64 % of the ceiling with four in flight and each scan sent at
 * once, 71 % with two and a turn’s grouping, the median of five rounds).
 *
 * A serial is never in two statements of this process at once (nor twice in one), so this
 * instance's statements never wait on each other's row locks. Two instances can still lock the
 * same marks in opposite orders: the statement PostgreSQL then aborts is simply run again (it was
 * rolled back whole, so nothing is counted twice).
 */
export class ScanBatcher {
  private waiting: Waiting[] = [];
  private inFlight = 0;
  private readonly busySerials = new Set<string>();
  /** Who waits for every scan handed over so far to be counted (see drained). */
  private idleWaiters: (() => void)[] = [];
  private readonly maxInFlight: number;
  private readonly maxBatch: number;
  private readonly onCounted: ScanBatcherOptions['onCounted'];
  /** Whether a pump is due at the end of this turn of the event loop. */
  private pumpDue = false;

  constructor(
    private readonly execute: (scans: ScanToRegister[]) => Promise<RegisteredScan[]>,
    options: ScanBatcherOptions = {},
  ) {
    this.maxInFlight = options.maxInFlight ?? 2;
    this.maxBatch = options.maxBatch ?? 64;
    this.onCounted = options.onCounted;
  }

  /** Scans waiting for a statement, and statements running. */
  get depth(): { waiting: number; statements: number } {
    return { waiting: this.waiting.length, statements: this.inFlight };
  }

  /** Resolves once every scan handed to it so far is counted (or has failed): shutdown. */
  async drained(): Promise<void> {
    while (this.inFlight > 0 || this.waiting.length > 0) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
  }

  /** Counts the scan; resolves to its mark, or undefined when no mark matched. */
  register(scan: ScanToRegister): Promise<RegisteredScan | undefined> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ scan, resolve, reject });
      if (this.pumpDue) return;
      this.pumpDue = true;
      setImmediate(() => {
        this.pumpDue = false;
        this.pump();
      });
    });
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.waiting.length > 0) {
      const batch: Waiting[] = [];
      const later: Waiting[] = [];
      const inBatch = new Set<string>();
      for (const entry of this.waiting) {
        const serial = entry.scan.serial;
        if (batch.length < this.maxBatch && !inBatch.has(serial) && !this.busySerials.has(serial)) {
          inBatch.add(serial);
          batch.push(entry);
        } else {
          later.push(entry);
        }
      }
      this.waiting = later;
      if (batch.length === 0) return; // all waiting scans are of marks being counted right now
      this.send(batch);
    }
  }

  private send(batch: Waiting[]): void {
    this.inFlight += 1;
    for (const entry of batch) this.busySerials.add(entry.scan.serial);
    const started = performance.now();
    this.executeWithRetry(batch.map((entry) => entry.scan))
      .then(
        (rows) => this.settle(batch, rows, started),
        (error: unknown) => {
          // A statement rolls back whole. When one scan's own data made it fail (a data
          // exception), each scan is counted again alone: that scan's request fails, and the
          // others of its turn — other people's — do not fail with it.
          if (batch.length > 1 && isDataException(error)) return this.countEachAlone(batch);
          for (const entry of batch) entry.reject(error);
        },
      )
      .finally(() => {
        this.inFlight -= 1;
        for (const entry of batch) this.busySerials.delete(entry.scan.serial);
        this.pump();
        if (this.inFlight === 0 && this.waiting.length === 0) {
          for (const resolve of this.idleWaiters.splice(0)) resolve();
        }
      });
  }

  private settle(batch: readonly Waiting[], rows: RegisteredScan[], started: number): void {
    this.onCounted?.((performance.now() - started) / 1000, batch.length);
    const bySerial = new Map(rows.map((row) => [row.serial, row]));
    for (const entry of batch) entry.resolve(bySerial.get(entry.scan.serial));
  }

  private async countEachAlone(batch: readonly Waiting[]): Promise<void> {
    await Promise.all(
      batch.map((entry) => {
        const started = performance.now();
        return this.executeWithRetry([entry.scan]).then(
          (rows) => this.settle([entry], rows, started),
          (error: unknown) => entry.reject(error),
        );
      }),
    );
  }

  private async executeWithRetry(scans: ScanToRegister[]): Promise<RegisteredScan[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.execute(scans);
      } catch (error) {
        if ((error as { code?: unknown }).code !== DEADLOCK || attempt >= 5) throw error;
      }
    }
  }
}
