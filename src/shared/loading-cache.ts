/**
 * A bounded in-process cache whose misses load once: callers asking for a key that is loading
 * share the one load, and a load that finds nothing stores nothing. The oldest entry goes first
 * once `maxEntries` are held (insertion order: a hit does not reorder, which keeps a hit to one
 * Map lookup on the hot paths that use it).
 *
 * @example
 * const batches = new LoadingCache<string, BatchFacts>({ maxEntries: 10_000 });
 * const facts = await batches.get(id, () => findBatchFacts(db, id));
 */
export class LoadingCache<K, V> {
  private readonly entries = new Map<K, V>();
  private readonly loading = new Map<K, Promise<V | undefined>>();
  private readonly maxEntries: number;

  constructor(options: { maxEntries: number }) {
    this.maxEntries = options.maxEntries;
  }

  /** The entry held for `key`, if any (no load). */
  peek(key: K): V | undefined {
    return this.entries.get(key);
  }

  /** The entry held for `key`, or what `load` finds (kept, and answered as loaded). */
  get(key: K, load: () => Promise<V | undefined>): Promise<V | undefined> {
    const held = this.entries.get(key);
    return held !== undefined ? Promise.resolve(held) : this.reload(key, load);
  }

  /**
   * What `load` finds now, replacing what is held for `key`: the value as read, whatever the
   * cache has evicted since. Callers asking while it loads share it.
   */
  reload(key: K, load: () => Promise<V | undefined>): Promise<V | undefined> {
    let pending = this.loading.get(key);
    if (!pending) {
      pending = load()
        .then((value) => {
          this.entries.delete(key);
          if (value !== undefined) {
            if (this.entries.size >= this.maxEntries)
              this.entries.delete(this.entries.keys().next().value as K);
            this.entries.set(key, value);
          }
          return value;
        })
        .finally(() => this.loading.delete(key));
      this.loading.set(key, pending);
    }
    return pending;
  }
}
