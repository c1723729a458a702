/**
 * A value now, or a promise of it. The login path answers with plain values wherever the answer is
 * already in memory (a cached user and tokens, a code that matches nothing) and with a promise only
 * where it really waits (the spend in PostgreSQL). Every `await` of an async function costs a
 * suspended frame, a promise and a trip through the microtask queue: an otp-only login went through
 * nine of them for its one real wait.
 */
export type Awaitable<T> = T | Promise<T>;

/**
 * `f` of `x`'s value: at once for a value, once settled for a promise (a rejection passes through).
 * Named `andThen`, not `then`: a module exporting `then` is itself a thenable to `await import(...)`.
 */
export function andThen<T, U>(x: Awaitable<T>, f: (value: T) => Awaitable<U>): Awaitable<U> {
  return x instanceof Promise ? x.then(f) : f(x);
}
