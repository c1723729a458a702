import { DuplicateCache, duplicateKey } from '../../src/radius/duplicate-cache';
import type { DuplicateState, DuplicateTicket } from '../../src/radius/duplicate-cache';

function manualClock(start = 1_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

const AUTH_A = Buffer.alloc(16, 0xaa);
const AUTH_B = Buffer.alloc(16, 0xbb);

describe('duplicateKey', () => {
  // Each component of RFC 5080's key must distinguish requests on its own.
  const base = duplicateKey('10.0.0.1', 40000, 7, AUTH_A);
  const variants: [what: string, key: string][] = [
    ['address', duplicateKey('10.0.0.2', 40000, 7, AUTH_A)],
    ['port', duplicateKey('10.0.0.1', 40001, 7, AUTH_A)],
    ['identifier', duplicateKey('10.0.0.1', 40000, 8, AUTH_A)],
    ['authenticator', duplicateKey('10.0.0.1', 40000, 7, AUTH_B)],
    ['one authenticator byte', duplicateKey('10.0.0.1', 40000, 7, Buffer.concat([AUTH_A.subarray(0, 15), Buffer.from([0xab])]))],
    // '1' + '|' + '11' vs '11' + '|' + '1' style ambiguity
    ['port/identifier boundary', duplicateKey('10.0.0.1', 4000, 7, AUTH_A)],
    // the address is the key's one field of variable length, and its last
    ['address that extends the other', duplicateKey('10.0.0.11', 40000, 7, AUTH_A)],
    ['port octets', duplicateKey('10.0.0.1', 40000 + 256, 7, AUTH_A)],
  ];
  test.each(variants)('differs when only the %s differs', (_what, key) => {
    expect(key).not.toBe(base);
  });

  test('is stable for the same request', () => {
    expect(duplicateKey('10.0.0.1', 40000, 7, Buffer.from(AUTH_A))).toBe(base);
  });

  test('a key built after a longer address holds nothing of it (the octets are built in one reused buffer)', () => {
    const long = 'fe80::aaaa:bbbb:cccc:dddd%an-interface-name-long-enough-to-outgrow-the-first-buffer';
    const before = duplicateKey('10.0.0.1', 40000, 7, AUTH_A);
    expect(duplicateKey(long, 40000, 7, AUTH_A)).not.toBe(before);
    expect(duplicateKey(long, 40000, 7, AUTH_A)).toBe(duplicateKey(long, 40000, 7, Buffer.from(AUTH_A)));
    expect(duplicateKey('10.0.0.1', 40000, 7, AUTH_A)).toBe(before);
    expect(before).toHaveLength(19 + '10.0.0.1'.length); // identifier, port, authenticator, address: one char an octet
  });

  test('zone names beyond ASCII stay distinct (the address goes in as UTF-8)', () => {
    expect(duplicateKey('fe80::1%é', 1, 1, AUTH_A)).not.toBe(duplicateKey('fe80::1%è', 1, 1, AUTH_A));
  });

  test('high authenticator bytes are not collapsed (latin1, not utf8)', () => {
    expect(duplicateKey('a', 1, 1, Buffer.alloc(16, 0x80))).not.toBe(duplicateKey('a', 1, 1, Buffer.alloc(16, 0x81)));
  });
});

describe('DuplicateCache', () => {
  test('unknown request: nothing seen', () => {
    const cache = new DuplicateCache();
    expect(cache.lookup('k')).toBeUndefined();
  });

  test('in progress, then replied with the exact bytes', () => {
    const cache = new DuplicateCache();
    const ticket = cache.begin('k');
    expect(cache.lookup('k')).toEqual({ state: 'in_progress' });
    const reply = Buffer.from('0201001400112233445566778899aabbccddeeff', 'hex');
    cache.complete(ticket, reply);
    const seen = cache.lookup('k');
    expect(seen?.state).toBe('replied');
    if (seen?.state === 'replied') expect(seen.reply.equals(reply)).toBe(true);
  });

  test('a deliberately dropped request is remembered with its reason', () => {
    const cache = new DuplicateCache();
    cache.completeDropped(cache.begin('k'), 'bad_password_field');
    expect(cache.lookup('k')).toEqual({ state: 'dropped', reason: 'bad_password_field' });
  });

  type End = (cache: DuplicateCache, ticket: DuplicateTicket) => void;
  test.each<[string, End, DuplicateState | undefined]>([
    ['replied', (cache, t) => cache.complete(t, Buffer.from('reply')), { state: 'replied', reply: Buffer.from('reply') }],
    ['dropped', (cache, t) => void cache.completeDropped(t, 'bad_password_field'), { state: 'dropped', reason: 'bad_password_field' }],
    ['forgotten', (cache, t) => cache.forget(t), undefined],
  ])('an entry ends once: after it was %s, a later outcome for its ticket changes nothing', (_what, end, expected) => {
    const cache = new DuplicateCache();
    const ticket = cache.begin('k');
    end(cache, ticket);
    expect(cache.completeDropped(ticket, 'internal_error')).toBe(false);
    cache.complete(ticket, Buffer.from('later'));
    expect(cache.lookup('k')).toEqual(expected);
  });

  test('completeDropped tells that it ended an entry in progress', () => {
    const cache = new DuplicateCache();
    expect(cache.completeDropped(cache.begin('k'), 'internal_error')).toBe(true);
    expect(cache.lookup('k')).toEqual({ state: 'dropped', reason: 'internal_error' });
  });

  test('forget makes a retransmission look new again (handler produced no reply)', () => {
    const cache = new DuplicateCache();
    const ticket = cache.begin('k');
    cache.forget(ticket);
    expect(cache.lookup('k')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  test('entries expire after the window, counted from completion', () => {
    const clock = manualClock();
    const cache = new DuplicateCache({ windowMs: 30_000, now: clock.now });
    const ticket = cache.begin('k');
    clock.advance(20_000); // slow handler
    cache.complete(ticket, Buffer.from('reply'));
    clock.advance(29_999);
    expect(cache.lookup('k')?.state).toBe('replied');
    clock.advance(1);
    expect(cache.lookup('k')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  test('expiry of the oldest entries does not disturb younger ones', () => {
    const clock = manualClock();
    const cache = new DuplicateCache({ windowMs: 100, now: clock.now });
    for (let i = 0; i < 10; i++) {
      cache.complete(cache.begin(`k${i}`), Buffer.from([i]));
      clock.advance(10);
    }
    // k0 was completed at t=0, k9 at t=90; now t=100 -> k0 expired
    expect(cache.lookup('k0')).toBeUndefined();
    expect(cache.lookup('k1')?.state).toBe('replied');
    clock.advance(45); // t=145: everything completed at or before t=45 is gone
    expect(cache.lookup('k4')).toBeUndefined();
    expect(cache.size).toBe(5); // k5..k9
    expect(cache.lookup('k5')?.state).toBe('replied');
  });

  test('an in-progress entry also expires, and completing it late is a no-op', () => {
    const clock = manualClock();
    const cache = new DuplicateCache({ windowMs: 1_000, now: clock.now });
    const ticket = cache.begin('k');
    clock.advance(1_000);
    expect(cache.lookup('k')).toBeUndefined();
    cache.complete(ticket, Buffer.from('late'));
    expect(cache.lookup('k')).toBeUndefined();
  });

  test('a late completion does not overwrite a newer copy of the same request', () => {
    const clock = manualClock();
    const cache = new DuplicateCache({ windowMs: 1_000, now: clock.now });
    const first = cache.begin('k');
    clock.advance(1_000);
    expect(cache.lookup('k')).toBeUndefined();
    const second = cache.begin('k');
    cache.complete(first, Buffer.from('first'));
    expect(cache.lookup('k')).toEqual({ state: 'in_progress' });
    cache.forget(first);
    expect(cache.lookup('k')).toEqual({ state: 'in_progress' });
    cache.complete(second, Buffer.from('second'));
    const seen = cache.lookup('k');
    expect(seen?.state === 'replied' && seen.reply.toString()).toBe('second');
  });

  test('maxEntries evicts the oldest entry first', () => {
    const cache = new DuplicateCache({ maxEntries: 3 });
    for (const key of ['a', 'b', 'c']) cache.complete(cache.begin(key), Buffer.from(key));
    cache.begin('d');
    expect(cache.size).toBe(3);
    expect(cache.lookup('a')).toBeUndefined();
    expect(cache.lookup('b')?.state).toBe('replied');
    expect(cache.lookup('d')).toEqual({ state: 'in_progress' });
  });

  test('completing re-orders: a request answered last is evicted last', () => {
    const cache = new DuplicateCache({ maxEntries: 2 });
    const slow = cache.begin('slow');
    cache.complete(cache.begin('fast'), Buffer.from('fast'));
    cache.complete(slow, Buffer.from('slow'));
    cache.begin('new');
    expect(cache.lookup('fast')).toBeUndefined();
    expect(cache.lookup('slow')?.state).toBe('replied');
  });

  test('memory stays bounded under a flood of distinct requests', () => {
    const clock = manualClock();
    const cache = new DuplicateCache({ maxEntries: 1_000, windowMs: 30_000, now: clock.now });
    for (let i = 0; i < 50_000; i++) {
      cache.complete(cache.begin(duplicateKey('10.0.0.1', i & 0xffff, i & 0xff, AUTH_A)), AUTH_B);
      if (i % 100 === 0) clock.advance(1);
    }
    expect(cache.size).toBe(1_000);
    // exactly the newest thousand are kept
    expect(cache.lookup(duplicateKey('10.0.0.1', 48_999 & 0xffff, 48_999 & 0xff, AUTH_A))).toBeUndefined();
    expect(cache.lookup(duplicateKey('10.0.0.1', 49_000 & 0xffff, 49_000 & 0xff, AUTH_A))?.state).toBe('replied');
  });

  test('under churn, forgotten and re-begun keys never evict a live newer entry', () => {
    const clock = manualClock();
    const cache = new DuplicateCache({ maxEntries: 3, windowMs: 30_000, now: clock.now });
    for (let round = 0; round < 1_000; round++) {
      cache.forget(cache.begin('dropped')); // a handler that sent nothing
      cache.complete(cache.begin(`k${round}`), AUTH_B);
      clock.advance(1);
    }
    cache.begin('again'); // the oldest live entry goes: k997
    expect(['k997', 'k998', 'k999', 'again'].map((k) => cache.lookup(k)?.state)).toEqual([undefined, 'replied', 'replied', 'in_progress']);
    expect(cache.lookup('dropped')).toBeUndefined();
  });

  test('grows past its first slots and keeps every entry, in order', () => {
    const clock = manualClock();
    const cache = new DuplicateCache({ maxEntries: 5_000, windowMs: 1_000, now: clock.now, initialSlots: 1_024 });
    for (let i = 0; i < 3_000; i++) cache.complete(cache.begin(`k${i}`), Buffer.from(String(i)));
    expect(cache.size).toBe(3_000);
    const seen = cache.lookup('k2999');
    expect(seen?.state === 'replied' && seen.reply.toString()).toBe('2999');
    expect(cache.lookup('k0')?.state).toBe('replied');
    clock.advance(1_000); // all answered at the same instant: all expire together
    expect(cache.lookup('k1500')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  // A ring that starts small grows, then wraps; one allocated whole at the start (the default) only wraps.
  const GROWN = { ring: 'grown from 1,024 slots', initialSlots: 1_024 };
  const WHOLE = { ring: 'allocated whole', initialSlots: undefined };
  test.each([
    { what: 'a short reply (kept in the slab)', length: 38, ...GROWN },
    { what: 'exactly the slab cell', length: 64, ...GROWN },
    { what: 'a long reply (kept as it is)', length: 65, ...GROWN },
    { what: 'a reply of the maximum size', length: 4096, ...GROWN },
    { what: 'a short reply (kept in the slab)', length: 38, ...WHOLE },
    { what: 'a long reply (kept as it is)', length: 65, ...WHOLE },
  ])('$what comes back byte for byte after the ring ($ring) wrapped', ({ length, initialSlots }) => {
    const clock = manualClock();
    const cache = new DuplicateCache({ maxEntries: 3_000, windowMs: 60_000, now: clock.now, initialSlots });
    const replyOf = (i: number) => Buffer.alloc(length, i % 251).fill(String(i), 0, Math.min(length, 8));
    for (let i = 0; i < 10_000; i++) {
      cache.complete(cache.begin(`k${i}`), replyOf(i));
      clock.advance(1);
    }
    for (const i of [7_000, 8_191, 9_999]) {
      const seen = cache.lookup(`k${i}`);
      expect(seen?.state).toBe('replied');
      expect((seen as { reply: Buffer }).reply.equals(replyOf(i))).toBe(true);
    }
    expect(cache.lookup('k6999')).toBeUndefined();
  });

  test('a short reply handed out is a copy: whoever sends it cannot change what a later retransmission gets', () => {
    const cache = new DuplicateCache({});
    const reply = Buffer.alloc(38, 7);
    cache.complete(cache.begin('k'), reply);
    reply.fill(1); // the encoder's buffer, reused
    const first = cache.lookup('k') as { reply: Buffer };
    first.reply.fill(2);
    expect((cache.lookup('k') as { reply: Buffer }).reply.equals(Buffer.alloc(38, 7))).toBe(true);
  });

  test('keeps working across many turns of the ring, with entries in progress among the answered ones', () => {
    const clock = manualClock();
    const cache = new DuplicateCache({ maxEntries: 50, windowMs: 30_000, now: clock.now });
    const slow = cache.begin('slow');
    for (let i = 0; i < 10_000; i++) {
      cache.complete(cache.begin(`k${i}`), AUTH_B);
      clock.advance(1);
    }
    // the slow request was evicted long ago (50 entries kept); answering it now changes nothing
    cache.complete(slow, AUTH_A);
    expect(cache.lookup('slow')).toBeUndefined();
    expect(cache.size).toBe(50);
    expect(cache.lookup('k9950')?.state).toBe('replied');
    expect(cache.lookup('k9949')).toBeUndefined();
  });

  test('clear empties it, and it works afterwards', () => {
    const cache = new DuplicateCache({ maxEntries: 10 });
    // a key longer than a cell of forty-eight octets is kept as a string beside the cells: forgotten too
    const long = 'a key that is kept as a string because it is longer than a cell of forty-eight';
    for (let i = 0; i < 30; i++) cache.complete(cache.begin(`k${i}`), AUTH_A);
    cache.complete(cache.begin(long), AUTH_A);
    cache.clear();
    expect(cache.size).toBe(0);
    expect(cache.lookup('k29')).toBeUndefined();
    expect(cache.lookup(long)).toBeUndefined();
    cache.completeDropped(cache.begin('k29'), 'bad_password_field');
    expect(cache.lookup('k29')).toEqual({ state: 'dropped', reason: 'bad_password_field' });
  });

  test('invalid options are refused', () => {
    expect(() => new DuplicateCache({ maxEntries: 0 })).toThrow(/maxEntries/);
    expect(() => new DuplicateCache({ windowMs: -1 })).toThrow(/window/);
    expect(() => new DuplicateCache({ windowMs: Number.NaN })).toThrow(/window/);
  });
});

describe('DuplicateCache: the byte budget for replies kept as Buffers (over 64 octets)', () => {
  // A step completes `key` with a reply of `length` octets, or lets the window pass ('window passes'), or
  // drops `key` ({ dropped }). A request carrying ~3.8 KB of Proxy-State gets a ~3.9 KB reply: bounded by
  // count alone, 100,000 of them held ~400 MB.
  type Step = [key: string, length: number] | 'window passes' | { dropped: string };
  const big = (key: string): Step => [key, 300];
  const small = (key: string): Step => [key, 64];
  // [what, maxReplyBytes, steps, keys answered after, keys forgotten after]
  const cases: [string, number, Step[], string[], string[]][] = [
    ['bytes beyond the budget evict the oldest', 1_000, [big('a'), big('b'), big('c'), big('d')], ['b', 'c', 'd'], ['a']],
    ['the oldest go until the new reply fits', 1_000, [big('a'), big('b'), big('c'), ['d', 700]], ['c', 'd'], ['a', 'b']],
    ['replies up to the budget are all kept', 1_200, [big('a'), big('b'), big('c'), big('d')], ['a', 'b', 'c', 'd'], []],
    ['small inline replies do not count', 1_000, Array.from({ length: 100 }, (_, i) => small(`s${i}`)), ['s0', 's50', 's99'], []],
    ['small replies after large ones do not evict them', 1_000, [big('a'), big('b'), big('c'), ...Array.from({ length: 50 }, (_, i) => small(`s${i}`))], ['a', 'c', 's0', 's49'], []],
    // oldest first, as the count bound: the short reply older than the large ones goes with them
    ['eviction is by age, whatever the size', 1_000, [small('s'), big('a'), big('b'), big('c'), big('d')], ['b', 'c', 'd'], ['s', 'a']],
    ['drop reasons do not count', 1_000, [{ dropped: 'x' }, { dropped: 'y' }, big('a'), big('b'), big('c')], ['x', 'y', 'a', 'b', 'c'], []],
    ['expired replies give their bytes back', 1_000, [big('a'), big('b'), big('c'), 'window passes', big('d'), big('e'), big('f')], ['d', 'e', 'f'], ['a']],
    ['a reply answered again gives back the bytes of the one it replaces', 1_000, [big('a'), big('b'), big('c'), big('a'), big('d')], ['a', 'c', 'd'], ['b']],
  ];
  test.each(cases)('%s (budget %d octets)', (_what, maxReplyBytes, steps, answered, forgotten) => {
    const clock = manualClock();
    const cache = new DuplicateCache({ maxEntries: 1_000, windowMs: 1_000, maxReplyBytes, now: clock.now });
    const replyOf = (key: string, length: number) => Buffer.alloc(length, key.charCodeAt(0)).fill(key, 0, Math.min(length, key.length));
    const lengthOf = new Map<string, number>();
    for (const step of steps) {
      if (step === 'window passes') clock.advance(1_000);
      else if (Array.isArray(step)) {
        cache.complete(cache.begin(step[0]), replyOf(...step));
        lengthOf.set(step[0], step[1]);
      } else cache.completeDropped(cache.begin(step.dropped), 'bad_password_field');
      clock.advance(1);
    }
    for (const key of answered) {
      const seen = cache.lookup(key);
      if (lengthOf.has(key)) {
        // a retransmission within the budget gets the reply byte for byte
        expect(seen?.state).toBe('replied');
        expect((seen as { reply: Buffer }).reply.equals(replyOf(key, lengthOf.get(key)!))).toBe(true);
      } else expect(seen).toEqual({ state: 'dropped', reason: 'bad_password_field' });
    }
    for (const key of forgotten) expect([key, cache.lookup(key)]).toEqual([key, undefined]);
  });

  test('the default budget, 64 MiB, keeps a flood of 3.9 KB replies to about 17,000 of them', () => {
    const cache = new DuplicateCache({ maxEntries: 100_000 });
    const reply = Buffer.alloc(3_900);
    for (let i = 0; i < 40_000; i++) cache.complete(cache.begin(`k${i}`), reply);
    expect(cache.size).toBe(Math.floor((64 * 1024 * 1024) / 3_900));
    expect(cache.lookup('k39999')?.state).toBe('replied');
  });

  // encodeResponse's replies under 4 KiB are slices of Node's shared 8 KiB pool: kept as they are, each pinned
  // its whole pool block, and the octets the budget counts were far below the memory held (100,000 challenge
  // replies of ~88 octets: up to 800 MB)
  test.each([
    ['a slice of a larger buffer (Node\'s pool)', 100, 8_192],
    ['a slice of a 4 KiB buffer', 3_900, 4_096],
  ])('a reply that is %s is kept in octets of its own (%d of %d)', (_what, length, backing) => {
    const cache = new DuplicateCache({ maxEntries: 10 });
    const block = Buffer.alloc(backing, 0x11);
    const reply = block.subarray(16, 16 + length).fill(0x22);
    cache.complete(cache.begin('k'), reply);
    const kept = (cache.lookup('k') as { reply: Buffer }).reply;
    expect(kept.equals(reply)).toBe(true);
    expect(kept.buffer.byteLength).toBe(length);
    expect(kept.buffer).not.toBe(block.buffer);
  });

  test('an invalid budget is refused', () => {
    expect(() => new DuplicateCache({ maxReplyBytes: -1 })).toThrow(/maxReplyBytes/);
    expect(() => new DuplicateCache({ maxReplyBytes: Number.NaN })).toThrow(/maxReplyBytes/);
  });
});
