import type { BlockHash } from './block-hash';

const BLOCK = 64;

/** A key's inner and outer hash states after its padded block: what RFC 2104 §4 suggests to precompute. */
interface PreparedKey {
  readonly key: Uint8Array;
  readonly states: Int32Array;
}

/**
 * HMAC (RFC 2104) over one of the block hashes here: H(K ^ opad, H(K ^ ipad, text)). Reusable like
 * the hash it wraps: start(key), update(...) any number of times, digestInto(out).
 *
 * RFC 2104 §4: "the intermediate results of the compression function on the B-byte blocks
 * (K XOR ipad) and (K XOR opad) can be precomputed only once at the time of generation of the key".
 * With `cacheKeys` they are kept per key buffer (a client's shared secret), which nearly halves the
 * work for a short message such as a RADIUS reply. The cache is keyed by the buffer and checked
 * against a copy of its bytes, so a buffer whose contents changed is prepared again, never used with
 * stale states.
 */
export class Hmac {
  private readonly inner: Uint8Array;
  private readonly stateLength: number;
  private readonly prepared: WeakMap<Uint8Array, PreparedKey> | undefined;
  private current: PreparedKey | undefined;
  /** The key XOR ipad/opad block, rebuilt for each key prepared. */
  private readonly pad = new Uint8Array(BLOCK);
  /** A key longer than a block is hashed first (RFC 2104 §2), into here. */
  private readonly hashedKey: Uint8Array;
  /** Without the cache, every key is prepared into this one (no allocation per MAC). */
  private readonly scratch: PreparedKey;

  /**
   * `cacheKeys`: keep the prepared states per key buffer. Worth it for a few keys used all the time
   * (RADIUS shared secrets); not for token seeds, each used once per login (no memory held per token).
   */
  constructor(
    private readonly hash: BlockHash,
    opts: { cacheKeys?: boolean } = {},
  ) {
    this.inner = new Uint8Array(hash.digestLength);
    this.hashedKey = new Uint8Array(hash.digestLength);
    this.stateLength = hash.stateLength;
    this.scratch = { key: new Uint8Array(0), states: new Int32Array(2 * hash.stateLength) };
    this.prepared = opts.cacheKeys ? new WeakMap() : undefined;
  }

  get digestLength(): number {
    return this.hash.digestLength;
  }

  start(key: Uint8Array): this {
    const cache = this.prepared;
    if (cache === undefined) {
      this.prepareInto(key, this.scratch.states);
      this.current = this.scratch;
      this.hash.loadState(this.scratch.states, 0, BLOCK);
      return this;
    }
    let p = cache.get(key);
    if (p === undefined || !sameBytes(p.key, key)) {
      const states = new Int32Array(2 * this.stateLength);
      this.prepareInto(key, states);
      p = { key: Uint8Array.from(key), states };
      cache.set(key, p);
    }
    this.current = p;
    this.hash.loadState(p.states, 0, BLOCK);
    return this;
  }

  update(data: Uint8Array, start = 0, end = data.length): this {
    this.hash.update(data, start, end);
    return this;
  }

  digestInto(out: Uint8Array, offset = 0): void {
    const states = this.current?.states;
    if (states === undefined) throw new Error('Hmac.digestInto before start');
    const hash = this.hash;
    hash.digestInto(this.inner);
    hash.loadState(states, this.stateLength, BLOCK).update(this.inner).digestInto(out, offset);
  }

  digest(): Buffer {
    const out = Buffer.allocUnsafe(this.hash.digestLength);
    this.digestInto(out);
    return out;
  }

  /** The inner and outer states after the key's padded block, into `states` (inner first). */
  private prepareInto(key: Uint8Array, states: Int32Array): void {
    const hash = this.hash;
    let k = key;
    // RFC 2104 §2: "Applications that use keys longer than B bytes will first hash the key"
    if (k.length > BLOCK) {
      hash.reset().update(key).digestInto(this.hashedKey);
      k = this.hashedKey;
    }
    const pad = this.pad;
    for (let i = 0; i < BLOCK; i++) pad[i] = (i < k.length ? k[i]! : 0) ^ 0x36;
    hash.reset().update(pad).saveState(states, 0);
    for (let i = 0; i < BLOCK; i++) pad[i] = (i < k.length ? k[i]! : 0) ^ 0x5c;
    hash.reset().update(pad).saveState(states, this.stateLength);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
