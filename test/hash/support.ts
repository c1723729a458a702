import { createHash, createHmac } from 'node:crypto';
import { Md5, Sha1, Sha256 } from '../../src/hash';
import type { BlockHash } from '../../src/hash/block-hash';

export { seededRandom } from '../otp/support';

/** The block hashes, each under the name node:crypto (the reference here) knows it by. */
export const ALGORITHMS: readonly { algorithm: 'md5' | 'sha1' | 'sha256'; make: () => BlockHash }[] = [
  { algorithm: 'md5', make: () => new Md5() },
  { algorithm: 'sha1', make: () => new Sha1() },
  { algorithm: 'sha256', make: () => new Sha256() },
];

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function nodeHash(algorithm: string, data: Uint8Array | string): string {
  return createHash(algorithm).update(data).digest('hex');
}

export function nodeHmac(algorithm: string, key: Uint8Array, data: Uint8Array | string): string {
  return createHmac(algorithm, key).update(data).digest('hex');
}

/**
 * Cut points for feeding a message in several updates: both sides of the 56-byte padding limit and
 * of the 64-byte block, plus the message's own end. Returns the [cut] and [cut, cut] lists <= n.
 */
export function cutLists(n: number): number[][] {
  const cuts = [...new Set([0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 200, n])].filter((c) => c <= n);
  const lists = cuts.map((c) => [c]);
  for (const a of cuts) for (const b of cuts) if (a <= b) lists.push([a, b]);
  return lists;
}

/** Feeds `message` in pieces split at `cuts` (ascending): each piece is its own buffer. */
export function feedSplit<T extends { update(data: Uint8Array): unknown }>(h: T, message: Uint8Array, cuts: number[]): T {
  let from = 0;
  for (const cut of [...cuts, message.length]) {
    h.update(message.slice(from, cut));
    from = cut;
  }
  return h;
}
