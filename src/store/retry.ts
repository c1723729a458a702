import { isDatabaseUnavailable } from './connect';

/**
 * Runs `read` again when the database was momentarily unreachable (a pooled connection reset under it,
 * a failover in progress), up to `attempts` times in all, `delayMs` apart. Any other error, and the
 * last unavailable one, is thrown as it is. For reads a server needs before it can start at all: a
 * blip at that moment should cost a fraction of a second, not the whole start. The pool drops a
 * connection that failed, so the next attempt gets a fresh one.
 */
export async function retryWhileUnavailable<T>(read: () => Promise<T>, opts: { attempts?: number; delayMs?: number } = {}): Promise<T> {
  const attempts = opts.attempts ?? 3;
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (e) {
      if (attempt >= attempts || !isDatabaseUnavailable(e)) throw e;
      await new Promise((resolve) => setTimeout(resolve, opts.delayMs ?? 250));
    }
  }
}
