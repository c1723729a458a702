import { ALGORITHMS, feedSplit, hex, nodeHash, seededRandom } from './support';

// Ranges that update(data, start, end) must refuse on a 10-byte buffer.
const BAD_RANGES = [
  { start: -1, end: 5, why: 'start before the data' },
  { start: 0, end: 11, why: 'end past the data' },
  { start: 6, end: 5, why: 'start after end' },
  { start: 11, end: 11, why: 'empty range past the data' },
];

// saveState is only defined at a block boundary: after whole 64-byte blocks, however they were fed.
const SAVE_POINTS = [
  { fed: [0], boundary: true },
  { fed: [1], boundary: false },
  { fed: [63], boundary: false },
  { fed: [64], boundary: true },
  { fed: [30, 34], boundary: true },
  { fed: [65], boundary: false },
  { fed: [100, 28], boundary: true },
];

// Save after `prefix` bytes, load into a fresh instance, hash `rest` more bytes.
const ROUND_TRIPS = [
  { prefix: 64, rest: 0 },
  { prefix: 64, rest: 1 },
  { prefix: 64, rest: 55 },
  { prefix: 64, rest: 56 },
  { prefix: 64, rest: 64 },
  { prefix: 64, rest: 200 },
  { prefix: 128, rest: 10 },
  { prefix: 192, rest: 120 },
];

describe.each(ALGORITHMS)('$algorithm instance reuse and state', ({ algorithm, make }) => {
  const rng = seededRandom(algorithm === 'md5' ? 2865 : 4226);

  it('hashes 300 messages in a row on one instance, reset() between', () => {
    const h = make();
    const messages = Array.from({ length: 300 }, () => rng.bytes(rng.int(300)));
    expect(messages.map((m) => hex(h.reset().update(m).digest()))).toEqual(messages.map((m) => nodeHash(algorithm, m)));
  });

  it.each([1, 63, 64, 100])('reset() discards a message abandoned after %i bytes', (abandoned) => {
    const h = make().update(rng.bytes(abandoned));
    const message = rng.bytes(70);
    expect(hex(h.reset().update(message).digest())).toBe(nodeHash(algorithm, message));
  });

  it.each([0, 1, 7, 64])('digestInto at offset %i writes only the digest bytes', (offset) => {
    const h = make();
    const message = rng.bytes(rng.int(200));
    const out = rng.bytes(offset + h.digestLength + 9);
    const before = Buffer.from(out);
    h.update(message).digestInto(out, offset);
    expect(hex(out.subarray(offset, offset + h.digestLength))).toBe(nodeHash(algorithm, message));
    expect(out.subarray(0, offset)).toEqual(before.subarray(0, offset));
    expect(out.subarray(offset + h.digestLength)).toEqual(before.subarray(offset + h.digestLength));
  });

  it.each(BAD_RANGES)('update(data, $start, $end) throws RangeError ($why) and changes nothing', ({ start, end }) => {
    const head = rng.bytes(40);
    const tail = rng.bytes(40);
    const h = make().update(head);
    expect(() => h.update(rng.bytes(10), start, end)).toThrow(RangeError);
    expect(hex(h.update(tail).digest())).toBe(nodeHash(algorithm, Buffer.concat([head, tail])));
  });

  it.each(SAVE_POINTS)('saveState after feeding $fed: allowed only at a block boundary ($boundary)', ({ fed, boundary }) => {
    const total = fed.reduce((a, b) => a + b, 0);
    const h = feedSplit(make(), rng.bytes(total), fed.slice(0, -1));
    const into = new Int32Array(h.stateLength);
    if (boundary) expect(() => h.saveState(into, 0)).not.toThrow();
    else expect(() => h.saveState(into, 0)).toThrow('block boundary');
  });

  it.each(ROUND_TRIPS)('saveState after $prefix bytes, loadState on a fresh instance, $rest more bytes', ({ prefix, rest }) => {
    const message = rng.bytes(prefix + rest);
    const first = make().update(message, 0, prefix);
    // saved at an offset into a larger array, with sentinels around it
    const state = new Int32Array(first.stateLength + 5).fill(-7);
    first.saveState(state, 3);
    expect([...state.subarray(0, 3), ...state.subarray(3 + first.stateLength)]).toEqual([-7, -7, -7, -7, -7]);

    const second = make().update(rng.bytes(33)); // whatever it held is replaced by the loaded state
    second.loadState(state, 3, prefix).update(message, prefix);
    expect(hex(second.digest())).toBe(nodeHash(algorithm, message));
  });
});
