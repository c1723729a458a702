import { AuthCache, type AuthSources } from '../../src/store/auth-cache';
import type { LoginData } from '../../src/store/login-data';
import type { TokenWithSeed } from '../../src/store/tokens';

function user(id: number, username: string): LoginData['user'] {
  return { id: BigInt(id), username, passwordHash: null, method: 'token' };
}
function token(id: number, validTo: Date | null = null): TokenWithSeed {
  return { id: BigInt(id), serial: `T${id}`, validTo, validFrom: null, lastStep: -1n, drift: 0, nextCounter: 0n } as unknown as TokenWithSeed;
}

/** A fake database: counts what the cache asks for. */
function source(rows: LoginData[]) {
  const calls = { loadLoginData: 0, usableForUser: 0 };
  const s: AuthSources = {
    async loadLoginData(names) {
      calls.loadLoginData++;
      return new Map(rows.filter((r) => names.includes(r.user.username)).map((r) => [r.user.username, r]));
    },
    async usableForUser(id) {
      calls.usableForUser++;
      return rows.find((r) => r.user.id === id)?.tokens ?? [];
    },
    async hasDisabledToken() {
      return false;
    },
  };
  return { s, calls };
}

const rows: LoginData[] = [
  { user: user(1, 'ann'), tokens: [token(11)] },
  { user: user(2, 'bob'), tokens: [token(21), token(22, new Date(Date.now() + 60_000))] },
  { user: user(3, 'cyd'), tokens: [] },
];
const pages = (pageSize: number) => async (after: bigint) => {
  const data = rows.filter((r) => r.user.id > after).slice(0, pageSize);
  return { data, lastUserId: data.length ? data[data.length - 1].user.id : undefined };
};

describe('AuthCache', () => {
  test('warm() loads every user page by page; logins then need no lookup', async () => {
    const { s, calls } = source(rows);
    const cache = new AuthCache(s, () => true);
    expect(await cache.warm(pages(2))).toBe(3);
    expect((await cache.findUser('bob'))?.id).toBe(2n);
    expect((await cache.usableForUser({ id: 2n, username: 'bob' })).map((t) => t.serial)).toEqual(['T21', 'T22']);
    expect(calls).toEqual({ loadLoginData: 0, usableForUser: 0 });
  });

  test('what is in memory comes back as a plain value (no wait), what must be read as a promise', async () => {
    const { s } = source(rows);
    const cache = new AuthCache(s, () => true);
    await cache.warm(pages(10));
    const bob = cache.findUser('bob');
    expect(bob).not.toBeInstanceOf(Promise);
    expect((bob as LoginData['user']).id).toBe(2n);
    const tokens = cache.usableForUser({ id: 2n, username: 'bob' });
    expect(tokens).not.toBeInstanceOf(Promise);
    cache.onChange({ kind: 'user', username: 'bob' });
    const again = cache.findUser('bob');
    expect(again).toBeInstanceOf(Promise);
    expect((await again)?.id).toBe(2n);
    expect(cache.usableForUser({ id: 2n, username: 'bob' }, { fresh: true })).toBeInstanceOf(Promise);
  });

  test('a change notification drops the entry; the next login reads it again', async () => {
    const { s, calls } = source(rows);
    const cache = new AuthCache(s, () => true);
    await cache.warm(pages(10));
    cache.onChange({ kind: 'tokens', userId: 1n });
    await cache.usableForUser({ id: 1n, username: 'ann' });
    expect(calls.usableForUser).toBe(1);
    cache.onChange({ kind: 'user', username: 'ann' });
    await cache.findUser('ann');
    expect(calls.loadLoginData).toBe(1);
  });

  test('a RADIUS client change (every node hears it, migration 0014) keeps every user: the cache is not emptied', async () => {
    const { s, calls } = source(rows);
    const cache = new AuthCache(s, () => true);
    await cache.warm(pages(10));
    cache.onChange({ kind: 'clients' });
    expect(cache.findUser('ann')).not.toBeInstanceOf(Promise);
    expect(calls.loadLoginData).toBe(0);
  });

  test('the user just found gives its tokens without a second lookup, and a change in between is still seen', async () => {
    const { s, calls } = source(rows);
    const cache = new AuthCache(s, () => true);
    await cache.warm(pages(10));
    const ann = (await cache.findUser('ann'))!;
    expect((await cache.usableForUser(ann)).map((t) => t.serial)).toEqual(['T11']);
    expect(calls.usableForUser).toBe(0);
    // found, then its tokens changed before the login asked for them: read afresh, not the old entry
    const again = (await cache.findUser('ann'))!;
    cache.onChange({ kind: 'tokens', userId: 1n });
    await cache.usableForUser(again);
    expect(calls.usableForUser).toBe(1);
    // another user found in between: each login still gets its own user's tokens
    const bob = (await cache.findUser('bob'))!;
    await cache.findUser('cyd');
    expect((await cache.usableForUser(bob)).map((t) => t.serial)).toEqual(['T21', 'T22']);
    expect(calls.usableForUser).toBe(1);
  });

  test('the user just found, then evicted, is not served from the evicted entry', async () => {
    const { s, calls } = source(rows);
    const cache = new AuthCache(s, () => true, { maxEntries: 2 });
    await cache.warm(pages(1)); // ann, bob: then it is full
    const ann = (await cache.findUser('ann'))!;
    await cache.findUser('cyd'); // read and stored: ann, the oldest, is evicted
    cache.onChange({ kind: 'tokens', userId: 1n }); // reaches no entry now
    await cache.usableForUser(ann);
    expect(calls.usableForUser).toBe(1);
  });

  test('a page read while a change arrived is not kept (those users load on demand)', async () => {
    const { s, calls } = source(rows);
    const cache = new AuthCache(s, () => true);
    let first = true;
    await cache.warm(async (after) => {
      const page = await pages(1)(after);
      if (first) cache.onChange({ kind: 'user', username: 'someone-else' }); // arrives while page 1 is read
      first = false;
      return page;
    });
    await cache.findUser('ann');
    await cache.findUser('bob');
    expect(calls.loadLoginData).toBe(1); // ann was dropped with the raced page; bob was kept
  });

  test('while notifications are not live nothing is served from or kept in the cache', async () => {
    const { s, calls } = source(rows);
    let live = false;
    const cache = new AuthCache(s, () => live);
    expect(await cache.warm(pages(10))).toBe(0);
    await cache.findUser('ann');
    await cache.findUser('ann');
    await cache.usableForUser({ id: 1n, username: 'ann' });
    expect(calls).toEqual({ loadLoginData: 2, usableForUser: 1 });
    live = true;
    await cache.findUser('ann');
    await cache.findUser('ann');
    expect(calls.loadLoginData).toBe(3);
  });

  test('a token whose validity ends while cached is no longer offered', async () => {
    const { s } = source(rows);
    let now = Date.now();
    const cache = new AuthCache(s, () => true, {}, () => now);
    await cache.warm(pages(10));
    expect((await cache.usableForUser({ id: 2n, username: 'bob' })).length).toBe(2);
    now += 120_000;
    expect((await cache.usableForUser({ id: 2n, username: 'bob' })).map((t) => t.serial)).toEqual(['T21']);
  });

  test("noteSpent keeps this node's replay state current without touching other tokens", async () => {
    const { s } = source(rows);
    const cache = new AuthCache(s, () => true);
    await cache.warm(pages(10));
    const bob = { id: 2n, username: 'bob' };
    cache.noteSpent((await cache.usableForUser(bob))[0], { lastStep: 100n, drift: 1, nextCounter: undefined });
    const [t21, t22] = await cache.usableForUser(bob);
    expect([t21.lastStep, t21.drift, t21.nextCounter]).toEqual([100n, 1, 0n]);
    expect(t22.lastStep).toBe(-1n);
  });

  test('noteSpent only moves replay state forward (a slower spend reported late changes nothing)', async () => {
    const { s } = source(rows);
    const cache = new AuthCache(s, () => true);
    await cache.warm(pages(10));
    const [t11] = await cache.usableForUser({ id: 1n, username: 'ann' });
    cache.noteSpent(t11, { lastStep: 200n, drift: 0, nextCounter: 7n });
    cache.noteSpent(t11, { lastStep: 150n, drift: -1, nextCounter: 5n });
    expect([t11.lastStep, t11.drift, t11.nextCounter]).toEqual([200n, 0, 7n]);
  });

  test("the tokens asked for must be that user's: a renamed or re-created user is read afresh", async () => {
    const { s, calls } = source(rows);
    const cache = new AuthCache(s, () => true);
    await cache.warm(pages(10));
    // same name, another id (the user was deleted and created again on another node before the notification)
    await cache.usableForUser({ id: 9n, username: 'ann' });
    expect(calls.usableForUser).toBe(1);
  });

  test('a full cache evicts its oldest entry', async () => {
    const { s, calls } = source(rows);
    const cache = new AuthCache(s, () => true, { maxEntries: 2 });
    await cache.findUser('ann');
    await cache.findUser('bob');
    await cache.findUser('cyd'); // evicts ann
    await cache.findUser('bob');
    expect(calls.loadLoginData).toBe(3);
    await cache.findUser('ann');
    expect(calls.loadLoginData).toBe(4);
  });

  test('a flood of unknown names does not evict known users: names known not to exist have a bound of their own', async () => {
    const { s, calls } = source(rows);
    const cache = new AuthCache(s, () => true, { maxEntries: 3, maxUnknownEntries: 2 });
    await cache.warm(pages(10));
    // a password spray through a VPN gateway: every name made up, each one read once
    for (let i = 0; i < 50; i++) await cache.findUser(`nobody${i}`);
    expect(calls.loadLoginData).toBe(50);
    for (const name of ['ann', 'bob', 'cyd']) expect(cache.findUser(name)).not.toBeInstanceOf(Promise); // still in memory
    expect(calls.loadLoginData).toBe(50);
    // the unknown names themselves stay bounded: the last ones are remembered, the older ones read again
    expect(cache.findUser('nobody49')).toBeUndefined();
    await cache.findUser('nobody0');
    expect(calls.loadLoginData).toBe(51);
  });

  test('a name known not to exist is read again once a notification says it was created', async () => {
    const created: LoginData[] = [];
    const { s } = source(created);
    const cache = new AuthCache(s, () => true, { maxEntries: 3, maxUnknownEntries: 2 });
    expect(await cache.findUser('dan')).toBeUndefined();
    created.push({ user: user(4, 'dan'), tokens: [] });
    cache.onChange({ kind: 'user', username: 'dan' });
    expect((await cache.findUser('dan'))?.id).toBe(4n);
  });

  test("evicting a renamed user's old entry keeps the notifications reaching the new one", async () => {
    const renamed: LoginData[] = [...rows, { user: user(1, 'ann2'), tokens: [token(11)] }];
    const { s, calls } = source(renamed);
    const cache = new AuthCache(s, () => true, { maxEntries: 2 });
    await cache.findUser('ann');
    await cache.findUser('ann2'); // same id 1, new name (the rename's notification not here yet)
    await cache.findUser('bob'); // full: evicts 'ann'
    cache.onChange({ kind: 'tokens', userId: 1n }); // must still drop 'ann2'
    await cache.findUser('ann2');
    expect(calls.loadLoginData).toBe(4);
  });

  test('an entry older than the TTL is read again', async () => {
    const { s, calls } = source(rows);
    let now = 1_000_000;
    const cache = new AuthCache(s, () => true, { ttlMs: 1000 }, () => now);
    await cache.findUser('ann');
    now += 999;
    await cache.findUser('ann');
    expect(calls.loadLoginData).toBe(1);
    now += 2;
    await cache.findUser('ann');
    expect(calls.loadLoginData).toBe(2);
  });
});
