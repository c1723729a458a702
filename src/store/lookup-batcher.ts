type Waiter<V> = { resolve: (v: V | undefined) => void; reject: (e: unknown) => void };

/**
 * Collects keys asked for in one turn of the event loop and loads them with one call.
 * Several requests for the same key share the answer.
 * A failure `ownToOneKey` recognises is one key's, not the call's (a token seed sealed under a key the node does
 * not hold): a batch failing so is loaded again key by key, so that only the key it belongs to fails. Any other
 * failure (the database away) fails the batch, which is not sent again.
 */
export class LookupBatcher<K, V> {
  private pending = new Map<K, Waiter<V>[]>();
  private scheduled = false;

  constructor(
    private readonly loadMany: (keys: K[]) => Promise<Map<K, V>>,
    private readonly maxBatch = 500,
    private readonly ownToOneKey: (e: unknown) => boolean = () => false,
  ) {}

  load(key: K): Promise<V | undefined> {
    return new Promise((resolve, reject) => {
      const waiters = this.pending.get(key);
      if (waiters) waiters.push({ resolve, reject });
      else this.pending.set(key, [{ resolve, reject }]);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const all = this.pending;
    this.pending = new Map();
    const keys = [...all.keys()];
    for (let i = 0; i < keys.length; i += this.maxBatch) {
      const chunk = keys.slice(i, i + this.maxBatch);
      this.loadMany(chunk).then(
        (found) => {
          for (const k of chunk) this.settle(all, k, { value: found.get(k) });
        },
        (e) => {
          if (chunk.length > 1 && this.ownToOneKey(e)) {
            for (const k of chunk) this.loadMany([k]).then((found) => this.settle(all, k, { value: found.get(k) }), (error) => this.settle(all, k, { error }));
          } else for (const k of chunk) this.settle(all, k, { error: e });
        },
      );
    }
  }

  private settle(all: Map<K, Waiter<V>[]>, k: K, outcome: { value: V | undefined } | { error: unknown }): void {
    for (const w of all.get(k)!) if ('error' in outcome) w.reject(outcome.error);
    else w.resolve(outcome.value);
  }
}
