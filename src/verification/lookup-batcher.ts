export interface LookupBatcherOptions {
  /** Statements in flight at once; further lookups wait and go together in the next one. */
  readonly maxInFlight?: number;
  /** Lookups per statement. */
  readonly maxBatch?: number;
}

interface Waiting<Q, R> {
  query: Q;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

/**
 * Reads many lookups with few statements, as ScanBatcher counts scans: a lookup goes to the
 * database at once while fewer than `maxInFlight` statements are running, so a lone request waits
 * for nothing; under load the lookups that arrive while statements run share the next one. Each
 * statement costs the service a round trip (two system calls), a pooled connection and the
 * parsing of a row description whatever its rows: shared, they cost a verification little.
 *
 * A statement reads what is committed when it starts, as each lookup's own statement would, and
 * never starts before its lookups were asked: sharing it changes what is read by nothing.
 */
export class LookupBatcher<Q, R> {
  private waiting: Waiting<Q, R>[] = [];
  private inFlight = 0;
  private readonly maxInFlight: number;
  private readonly maxBatch: number;

  constructor(
    /** Answers every query of a batch, in their order. */
    private readonly execute: (queries: Q[]) => Promise<R[]>,
    options: LookupBatcherOptions = {},
  ) {
    this.maxInFlight = options.maxInFlight ?? 2;
    this.maxBatch = options.maxBatch ?? 100;
  }

  /** The answer to `query`, read with whichever lookups share its statement. */
  find(query: Q): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ query, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.waiting.length > 0) {
      this.send(this.waiting.splice(0, this.maxBatch));
    }
  }

  private send(batch: Waiting<Q, R>[]): void {
    this.inFlight += 1;
    let answers: Promise<R[]>;
    try {
      answers = this.execute(batch.map((entry) => entry.query));
    } catch (error) {
      answers = Promise.reject(error);
    }
    answers
      .then(
        (results) => {
          for (let i = 0; i < batch.length; i++) batch[i]!.resolve(results[i]!);
        },
        (error: unknown) => {
          for (const entry of batch) entry.reject(error);
        },
      )
      .finally(() => {
        this.inFlight -= 1;
        this.pump();
      });
  }
}
