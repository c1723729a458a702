import { retryWhileUnavailable } from '../../src/store/retry';

const reset = () => Object.assign(new Error('write ECONNRESET'), { code: 'ECONNRESET' });

describe('retryWhileUnavailable', () => {
  test.each([
    ['succeeds at once', [], 'rows', 1],
    ['rides out one reset connection', [reset()], 'rows', 2],
    ['rides out two', [reset(), reset()], 'rows', 3],
  ])('%s', async (_what, failures, expected, calls) => {
    let n = 0;
    const read = async () => {
      const failure = failures[n++];
      if (failure) throw failure;
      return 'rows';
    };
    await expect(retryWhileUnavailable(read, { delayMs: 1 })).resolves.toBe(expected);
    expect(n).toBe(calls);
  });

  test('gives up after the last attempt with the database error itself', async () => {
    let n = 0;
    const read = async () => {
      n++;
      throw reset();
    };
    await expect(retryWhileUnavailable(read, { attempts: 3, delayMs: 1 })).rejects.toThrow('write ECONNRESET');
    expect(n).toBe(3);
  });

  test('does not retry an error that is not about reaching the database', async () => {
    let n = 0;
    const read = async () => {
      n++;
      throw Object.assign(new Error('relation "radius_client" does not exist'), { code: '42P01' });
    };
    await expect(retryWhileUnavailable(read, { delayMs: 1 })).rejects.toThrow('does not exist');
    expect(n).toBe(1);
  });
});
