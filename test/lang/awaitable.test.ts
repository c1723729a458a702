import { andThen } from '../../src/lang/awaitable';

describe('andThen', () => {
  test('applies the function at once to a plain value', () => {
    expect(andThen(2, (n) => n * 3)).toBe(6);
  });

  test('applies it after settlement to a promise, and passes a rejection through untouched', async () => {
    const later = andThen(Promise.resolve(2), (n) => n * 3);
    expect(later).toBeInstanceOf(Promise);
    await expect(later).resolves.toBe(6);
    let called = false;
    const failed = andThen(Promise.reject(new Error('down')), () => (called = true));
    await expect(failed).rejects.toThrow('down');
    expect(called).toBe(false);
  });

  test('a function returning a promise makes the result a promise', async () => {
    await expect(andThen(1, (n) => Promise.resolve(n + 1))).resolves.toBe(2);
  });
});
