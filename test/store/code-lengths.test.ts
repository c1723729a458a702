import { CodeLengthsInUse } from '../../src/store/code-lengths';

/*
 * The deployment's code lengths, kept in memory for the price of a wrong append login: read again a
 * moment after token changes (one read per burst), kept as they were when a read fails.
 */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

function harness(settleMs = 20) {
  const reads: ReturnType<typeof deferred<number[]>>[] = [];
  const warnings: string[] = [];
  const lengths = new CodeLengthsInUse(
    () => {
      const d = deferred<number[]>();
      reads.push(d);
      return d.promise;
    },
    { warn: (_o, m) => warnings.push(m), info: (_o, m) => warnings.push(m) },
    settleMs,
  );
  return { lengths, reads, warnings };
}

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

test('empty until the first read; a read replaces the list', async () => {
  const { lengths, reads } = harness();
  expect(lengths.current()).toEqual([]);
  const done = lengths.refresh();
  reads[0]!.resolve([6, 8]);
  await done;
  expect(lengths.current()).toEqual([6, 8]);
});

test('a burst of token changes is one read, after the changes settle; user and RADIUS client changes are none', async () => {
  const { lengths, reads } = harness(30);
  lengths.onChange({ kind: 'user', username: 'ria' });
  lengths.onChange({ kind: 'clients' });
  await tick(50);
  expect(reads).toHaveLength(0);
  for (let i = 0; i < 5; i++) lengths.onChange({ kind: 'tokens', userId: BigInt(i) });
  lengths.onChange({ kind: 'reset' });
  expect(reads).toHaveLength(0);
  await tick(60);
  expect(reads).toHaveLength(1);
  reads[0]!.resolve([8]);
  await tick();
  expect(lengths.current()).toEqual([8]);
});

test('a change while a read is running is followed by exactly one more read', async () => {
  const { lengths, reads } = harness();
  const first = lengths.refresh();
  expect(lengths.refresh()).toBe(first);
  void lengths.refresh();
  expect(reads).toHaveLength(1);
  reads[0]!.resolve([6]);
  await first;
  await tick();
  expect(reads).toHaveLength(2);
  reads[1]!.resolve([6, 8]);
  await tick();
  expect(lengths.current()).toEqual([6, 8]);
  expect(reads).toHaveLength(2);
});

test('a failed read keeps the list, warns once per outage, says when it reads again, and never rejects', async () => {
  const { lengths, reads, warnings } = harness();
  const ok = lengths.refresh();
  reads[0]!.resolve([6]);
  await ok;
  for (let i = 1; i <= 3; i++) {
    const r = lengths.refresh();
    reads[i]!.reject(new Error('connection refused'));
    await expect(r).resolves.toBeUndefined();
  }
  expect(lengths.current()).toEqual([6]);
  expect(warnings).toEqual(['could not read the code lengths in use; keeping the previous list']);
  const back = lengths.refresh();
  reads[4]!.resolve([6, 8]);
  await back;
  // the warning gets its all-clear once (a restart of PostgreSQL left it standing with none)
  expect(warnings).toEqual(['could not read the code lengths in use; keeping the previous list', 'code lengths in use read again']);
  const again = lengths.refresh();
  reads[5]!.reject(new Error('connection refused'));
  await again;
  expect(warnings).toHaveLength(3);
  expect(lengths.current()).toEqual([6, 8]);
});

test('stop cancels a pending read and waits for the running one', async () => {
  const { lengths, reads } = harness(10);
  lengths.onChange({ kind: 'reset' });
  const running = lengths.refresh();
  let stopped = false;
  const stop = lengths.stop().then(() => (stopped = true));
  await tick(30);
  expect(stopped).toBe(false);
  reads[0]!.resolve([6]);
  await running;
  await stop;
  await tick(30);
  expect(reads).toHaveLength(1);
});
