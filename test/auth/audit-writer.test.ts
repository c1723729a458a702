import { AuditWriter } from '../../src/auth/audit-writer';
import type { AuditEvent } from '../../src/store/audit';

const event = (n: number): AuditEvent => ({ node: 'n1', username: `u${n}`, result: 'accept', reason: 'code_ok' });

/** A fake database: records every batch it is given, or refuses while `down`. */
function database() {
  const batches: string[][] = [];
  const state = { down: false };
  const insertJson = async (json: string) => {
    if (state.down) throw new Error('connection refused');
    batches.push((JSON.parse(json) as AuditEvent[]).map((e) => e.username!));
  };
  return { batches, state, insertJson };
}

describe('AuditWriter', () => {
  test('a full batch is written at once, as the JSON array of its events, in order', async () => {
    const db = database();
    const writer = new AuditWriter(db.insertJson, { batchSize: 3, intervalMs: 60_000 });
    for (let i = 1; i <= 3; i++) writer.write(event(i));
    await writer.flush();
    expect(db.batches).toEqual([['u1', 'u2', 'u3']]);
    expect(writer.backlog).toBe(0);
    await writer.close();
  });

  test('a partial batch is written after the interval', async () => {
    const db = database();
    const writer = new AuditWriter(db.insertJson, { batchSize: 100, intervalMs: 5 });
    writer.write(event(1));
    writer.write(event(2));
    expect(db.batches).toEqual([]);
    await new Promise((r) => setTimeout(r, 50));
    expect(db.batches).toEqual([['u1', 'u2']]);
    await writer.close();
  });

  test('while the database is away nothing is lost: the backlog is kept, counted, and written in order on return', async () => {
    const db = database();
    const errors: number[] = [];
    const writer = new AuditWriter(db.insertJson, { batchSize: 2, intervalMs: 60_000, onError: (_e, backlog) => errors.push(backlog) });
    db.state.down = true;
    for (let i = 1; i <= 5; i++) writer.write(event(i));
    await writer.flush();
    expect(writer.backlog).toBe(5);
    expect(errors.length).toBeGreaterThan(0);
    db.state.down = false;
    await writer.close();
    expect(db.batches).toEqual([['u1', 'u2'], ['u3', 'u4'], ['u5']]);
    expect(writer.backlog).toBe(0);
  });

  test('a batch is retried under the id of its first attempt, whose answer may have been lost after the commit', async () => {
    const attempts: { id: string; users: string[] }[] = [];
    let lose = 1; // the first attempt "commits" but its answer never comes
    const writer = new AuditWriter(
      async (json, id) => {
        attempts.push({ id, users: (JSON.parse(json) as AuditEvent[]).map((e) => e.username!) });
        if (lose-- > 0) throw new Error('Query read timeout');
      },
      { batchSize: 2, intervalMs: 60_000 },
    );
    for (let i = 1; i <= 3; i++) writer.write(event(i));
    await writer.flush();
    await writer.close();
    expect(attempts.map((a) => a.users)).toEqual([['u1', 'u2'], ['u1', 'u2'], ['u3']]);
    expect(attempts[1]!.id).toBe(attempts[0]!.id);
    expect(attempts[2]!.id).not.toBe(attempts[0]!.id);
  });

  test('events written while a batch is being inserted follow it', async () => {
    const db = database();
    let release!: () => void;
    const slow = new Promise<void>((r) => (release = r));
    let first = true;
    const writer = new AuditWriter(
      async (json) => {
        if (first) {
          first = false;
          await slow;
        }
        await db.insertJson(json);
      },
      { batchSize: 2, intervalMs: 60_000 },
    );
    writer.write(event(1));
    writer.write(event(2)); // full: its insert starts and waits
    writer.write(event(3));
    const done = writer.flush();
    release();
    await done;
    await writer.close();
    expect(db.batches).toEqual([['u1', 'u2'], ['u3']]);
  });

  test('beyond maxBacklog the oldest events are dropped, each one counted', async () => {
    const db = database();
    let dropped = 0;
    const writer = new AuditWriter(db.insertJson, { batchSize: 2, intervalMs: 60_000, maxBacklog: 4, onDropped: () => dropped++ });
    db.state.down = true;
    for (let i = 1; i <= 4; i++) writer.write(event(i)); // two written-out batches waiting: [u1 u2] [u3 u4]
    await writer.flush();
    expect(writer.backlog).toBe(4);
    writer.write(event(5)); // no room: the oldest batch goes
    expect(dropped).toBe(2);
    expect(writer.backlog).toBe(3);
    db.state.down = false;
    await writer.close();
    expect(db.batches).toEqual([['u3', 'u4'], ['u5']]);
  });

  test('a batch whose insert is on its way is not the one dropped for room: it may land, and was then not lost', async () => {
    const landed: string[][] = [];
    let release: () => void = () => {};
    const slowInsert = (json: string) =>
      new Promise<void>((resolve) => {
        release = () => {
          landed.push((JSON.parse(json) as AuditEvent[]).map((e) => e.username!));
          resolve();
        };
      });
    let dropped = 0;
    const writer = new AuditWriter(slowInsert, { batchSize: 2, intervalMs: 60_000, maxBacklog: 4, onDropped: () => dropped++ });
    for (let i = 1; i <= 2; i++) writer.write(event(i)); // [u1 u2] sent; its insert hangs (a slow database)
    for (let i = 3; i <= 4; i++) writer.write(event(i)); // [u3 u4] waits behind it
    writer.write(event(5)); // no room: [u3 u4] goes, not [u1 u2], whose insert may still land
    expect(dropped).toBe(2);
    const releasing = setInterval(() => release(), 1); // the database answers again, each insert in turn
    await writer.close();
    clearInterval(releasing);
    expect(landed).toEqual([['u1', 'u2'], ['u5']]);
    expect(writer.backlog).toBe(0);
  });
});
