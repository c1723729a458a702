/**
 * Collects keys asked for in one turn of the event loop and loads them with one call.
 * Several requests for the same key share the answer.
 */
export class LookupBatcher<K, V> {
  private pending = new Map<K, { resolve: (v: V | undefined) => void; reject: (e: unknown) => void }[]>();
  private scheduled = false;

  constructor(
    private readonly loadMany: (keys: K[]) => Promise<Map<K, V>>,
    private readonly maxBatch = 500,
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
          for (const k of chunk) for (const w of all.get(k)!) w.resolve(found.get(k));
        },
        (e) => {
          for (const k of chunk) for (const w of all.get(k)!) w.reject(e);
        },
      );
    }
  }
}
