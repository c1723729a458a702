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

  /**
   * `cacheKeys`: keep the prepared states per key buffer. Worth it for a few keys used all the time
   * (RADIUS shared secrets); not for token seeds, each used once per login (no memory held per token).
   */
  constructor(
    private readonly hash: BlockHash,
    opts: { cacheKeys?: boolean } = {},
  ) {
    this.inner = new Uint8Array(hash.digestLength);
    this.stateLength = hash.stateLength;
    this.prepared = opts.cacheKeys ? new WeakMap() : undefined;
  }

  get digestLength(): number {
    return this.hash.digestLength;
  }

  start(key: Uint8Array): this {
    const cache = this.prepared;
    let p = cache?.get(key);
    if (p === undefined || !sameBytes(p.key, key)) {
      p = this.prepare(key);
      cache?.set(key, p);
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
    const p = this.current;
    if (p === undefined) throw new Error('Hmac.digestInto before start');
    const hash = this.hash;
    hash.digestInto(this.inner);
    hash.loadState(p.states, this.stateLength, BLOCK).update(this.inner).digestInto(out, offset);
  }

  digest(): Buffer {
    const out = Buffer.allocUnsafe(this.hash.digestLength);
    this.digestInto(out);
    return out;
  }

  private prepare(key: Uint8Array): PreparedKey {
    const hash = this.hash;
    let k = key;
    // RFC 2104 §2: "Applications that use keys longer than B bytes will first hash the key"
    if (k.length > BLOCK) {
      k = new Uint8Array(hash.digestLength);
      hash.reset().update(key).digestInto(k);
    }
    const pad = new Uint8Array(BLOCK);
    const states = new Int32Array(2 * this.stateLength);
    for (const [xor, at] of [[0x36, 0], [0x5c, this.stateLength]] as const) {
      for (let i = 0; i < BLOCK; i++) pad[i] = (i < k.length ? k[i]! : 0) ^ xor;
      hash.reset().update(pad).saveState(states, at);
    }
    return { key: Uint8Array.from(key), states };
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
