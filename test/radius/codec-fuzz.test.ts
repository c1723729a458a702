/*
 * Fuzzing the untrusted-input path: ~200k random and mutated datagrams through decodePacket,
 * verifyRequest, checkAccessRequestAttributes, decodeAttribute and decryptUserPassword. None may throw, and every result must
 * be a well-formed DecodeResult that agrees with the bytes it came from.
 *
 * The generator is seeded so that a failure names a reproducible case (seed + iteration).
 */
import { createCipheriv } from 'node:crypto';
import { decodeAttribute } from '../../src/radius/attributes';
import { checkAccessRequestAttributes, decodePacket, encodeRequest, verifyRequest } from '../../src/radius/codec';
import { loadDefaultDictionary } from '../../src/radius/dictionary';
import { decryptUserPassword } from '../../src/radius/password';
import { Attr, Code, type DecodeResult, type RawAttribute } from '../../src/radius/types';

const SECRET = Buffer.from('fuzzing-secret');
const DICT = loadDefaultDictionary();
const DECODE_REASONS = new Set(['too_short', 'too_long', 'length_mismatch', 'attribute_too_short', 'attribute_overrun', 'unsupported_code']);
const VERIFY_RESULTS = new Set(['ok', 'missing_message_authenticator', 'bad_message_authenticator']);
/** RFC 2865 §5.44 "0-1" in Access-Request, as enforced: User-Name, User-Password, CHAP-Password, NAS-IP-Address, State, Calling-Station-Id, NAS-Identifier. */
const AT_MOST_ONCE = [1, 2, 3, 4, 24, 31, 32];

/** The attribute check written the slow, obvious way, to compare with the codec's. */
function expectedAttributeCheck(attributes: readonly RawAttribute[]): string {
  const count = (type: number) => attributes.filter((a) => a.type === type).length;
  if (AT_MOST_ONCE.some((type) => count(type) > 1)) return 'repeated_attribute';
  if (count(Attr.UserPassword) === 1 && count(Attr.ChapPassword) === 1) return 'pap_and_chap';
  // RFC 3579 §3.3 [Note 1]: at most one kind of PAP, CHAP, ARAP and EAP credential
  const kinds = [Attr.UserPassword, Attr.ChapPassword, Attr.ArapPassword, Attr.EapMessage].filter((type) => count(type) > 0);
  return kinds.length > 1 ? 'mixed_credentials' : 'ok';
}

/**
 * Seedable random stream: AES-128-CTR keyed by the seed, read from a refilled pool. (A JS PRNG
 * such as mulberry32 is ~20x slower under jest's vm context, where Math.* calls are not inlined.)
 */
function rng(seed: number) {
  const key = Buffer.alloc(16);
  key.writeUInt32BE(seed >>> 0);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const POOL = 1 << 16;
  const zeros = Buffer.alloc(POOL);
  let pool = cipher.update(zeros);
  let offset = 0;
  const take = (n: number): Buffer => {
    if (offset + n > pool.length) {
      pool = n > POOL ? cipher.update(Buffer.alloc(n)) : cipher.update(zeros);
      offset = 0;
    }
    offset += n;
    return pool.subarray(offset - n, offset);
  };
  /** uniform in [0, 1) */
  const next = (): number => take(4).readUInt32LE(0) / 4294967296;
  /** uniform integer in [0, n), n <= 2^31 */
  const int = (n: number): number => (next() * n) | 0;
  const bytes = (n: number): Buffer => Buffer.from(take(n));
  return { next, int, bytes, pick: <T>(items: readonly T[]): T => items[int(items.length)]! };
}
type Rng = ReturnType<typeof rng>;

/** Checks one datagram end to end; returns the decode result for callers that want more checks. */
function exercise(datagram: Buffer, label: string): DecodeResult {
  let result: DecodeResult;
  try {
    result = decodePacket(datagram);
  } catch (err) {
    throw new Error(`${label}: decodePacket threw ${String(err)} on ${datagram.toString('hex')}`);
  }
  if (!result.ok) {
    if (!DECODE_REASONS.has(result.reason)) throw new Error(`${label}: unexpected reason ${result.reason}`);
    return result;
  }
  const { packet } = result;
  const length = datagram.readUInt16BE(2);
  const problems: string[] = [];
  if (packet.code !== Code.AccessRequest && packet.code !== Code.StatusServer) problems.push(`code ${packet.code}`);
  if (packet.identifier !== datagram[1]) problems.push('identifier');
  if (packet.raw !== datagram) problems.push('raw');
  if (!packet.authenticator.equals(datagram.subarray(4, 20))) problems.push('authenticator');
  if (datagram.length < 20 || length > 4096 || length < 20 || length > datagram.length) problems.push('length accepted');
  let offset = 20;
  for (const attribute of packet.attributes) {
    if (attribute.type !== datagram[offset] || datagram[offset + 1] !== attribute.value.length + 2) problems.push(`attribute at ${offset}`);
    if (!attribute.value.equals(datagram.subarray(offset + 2, offset + 2 + attribute.value.length))) problems.push(`value at ${offset}`);
    offset += attribute.value.length + 2;
  }
  if (offset !== length) problems.push(`attributes cover ${offset} of ${length}`);
  if (problems.length > 0) throw new Error(`${label}: inconsistent packet (${problems.join(', ')}) from ${datagram.toString('hex')}`);

  try {
    for (const requireMessageAuthenticator of [false, true]) {
      const verdict = verifyRequest(packet, SECRET, { requireMessageAuthenticator });
      if (!VERIFY_RESULTS.has(verdict)) throw new Error(`verifyRequest returned ${String(verdict)}`);
    }
    const check = checkAccessRequestAttributes(packet);
    if (check !== expectedAttributeCheck(packet.attributes)) throw new Error(`checkAccessRequestAttributes returned ${check}`);
    for (const attribute of packet.attributes) {
      for (const decoded of decodeAttribute(DICT, attribute)) {
        if (typeof decoded.name !== 'string' || decoded.value === undefined) throw new Error('bad decoded attribute');
      }
      if (attribute.type === Attr.UserPassword) decryptUserPassword(attribute.value, SECRET, packet.authenticator);
    }
  } catch (err) {
    throw new Error(`${label}: ${String(err)} on ${datagram.toString('hex')}`);
  }
  return result;
}

/** A datagram with a plausible header (so the fuzzing reaches the attribute parser) and random attributes. */
function plausible(r: Rng): Buffer {
  const attributes: Buffer[] = [];
  let size = 20;
  const count = r.int(12);
  for (let i = 0; i < count; i++) {
    const valueLength = r.next() < 0.8 ? r.int(40) : r.int(254);
    const type = r.next() < 0.5 ? r.pick([1, 2, 3, 4, 5, 18, 24, 26, 32, 33, 79, 80, 95, 97]) : r.int(256);
    const value = type === 26 && r.next() < 0.7 ? plausibleVsa(r) : r.bytes(valueLength);
    if (size + value.length + 2 > 4096) break;
    attributes.push(Buffer.concat([Buffer.of(type, value.length + 2), value]));
    size += value.length + 2;
  }
  const header = Buffer.alloc(20);
  header[0] = r.next() < 0.9 ? r.pick([Code.AccessRequest, Code.StatusServer]) : r.int(256);
  header[1] = r.int(256);
  header.writeUInt16BE(size, 2);
  r.bytes(16).copy(header, 4);
  return Buffer.concat([header, ...attributes]);
}

function plausibleVsa(r: Rng): Buffer {
  const vendor = r.pick([9, 311, 2636, 12356, 25461, r.int(70000)]);
  const subs: Buffer[] = [Buffer.alloc(4)];
  subs[0]!.writeUInt32BE(vendor);
  let size = 4;
  for (let i = r.int(4); i >= 0; i--) {
    const data = r.bytes(r.int(20));
    if (size + data.length + 2 > 253) break;
    subs.push(Buffer.concat([Buffer.of(r.int(256), data.length + 2), data]));
    size += data.length + 2;
  }
  return Buffer.concat(subs);
}

/** Byte flips, header lies, truncation, padding, insertion and deletion. */
function mutate(r: Rng, source: Buffer): Buffer {
  let out = Buffer.from(source);
  for (let n = 1 + r.int(3); n > 0; n--) {
    switch (r.int(8)) {
      case 7: // past the RFC 2865 §3 maximum of 4096 octets
        if (r.next() < 0.1) out = Buffer.concat([out, r.bytes(4097 - Math.min(out.length, 4096) + r.int(64))]);
        break;
      case 0:
        if (out.length > 0) out[r.int(out.length)] = r.int(256);
        break;
      case 1:
        if (out.length > 0) out[r.int(out.length)] ^= 1 << r.int(8);
        break;
      case 2:
        if (out.length >= 4) out.writeUInt16BE(r.next() < 0.5 ? out.length + r.int(9) - 4 : r.int(65536), 2);
        break;
      case 3:
        out = out.subarray(0, r.int(out.length + 1));
        break;
      case 4:
        out = Buffer.concat([out, r.bytes(r.int(32))]);
        break;
      case 5: {
        const at = r.int(out.length + 1);
        out = Buffer.concat([out.subarray(0, at), r.bytes(1 + r.int(4)), out.subarray(at)]);
        break;
      }
      default: {
        const at = r.int(out.length + 1);
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1 + r.int(4))]);
      }
    }
  }
  return out;
}

function signedRequest(r: Rng): Buffer {
  const attributes: RawAttribute[] = [{ type: Attr.UserName, value: r.bytes(1 + r.int(30)) }];
  if (r.next() < 0.7) attributes.push({ type: Attr.UserPassword, value: r.bytes(r.int(129)) });
  for (let i = r.int(5); i > 0; i--) attributes.push({ type: r.pick([4, 5, 18, 24, 30, 31, 32, 33, 61]), value: r.bytes(1 + r.int(60)) });
  return encodeRequest({ code: r.pick([Code.AccessRequest, Code.StatusServer]), identifier: r.int(256), secret: SECRET, attributes });
}

describe('decodePacket / verifyRequest fuzzing (never throw, always a valid result)', () => {
  test('50k uniformly random datagrams', () => {
    const r = rng(0x5eed0001);
    for (let i = 0; i < 50_000; i++) {
      const size = r.next() < 0.95 ? r.int(300) : r.int(4300);
      const datagram = r.bytes(size);
      // Half of them get a believable code and Length so the attribute parser is reached at all.
      if (size >= 4 && r.next() < 0.5) {
        datagram[0] = r.pick([Code.AccessRequest, Code.StatusServer]);
        datagram.writeUInt16BE(size <= 0xffff ? size : 0xffff, 2);
      }
      exercise(datagram, `random #${i}`);
    }
  });

  test('50k plausible datagrams with random attributes', () => {
    const r = rng(0x5eed0002);
    let accepted = 0;
    for (let i = 0; i < 50_000; i++) if (exercise(plausible(r), `plausible #${i}`).ok) accepted++;
    expect(accepted).toBeGreaterThan(40_000); // the generator really exercises the accepting path
  });

  test('50k mutations of plausible datagrams', () => {
    const r = rng(0x5eed0003);
    const reasons = new Map<string, number>();
    for (let i = 0; i < 50_000; i++) {
      const result = exercise(mutate(r, plausible(r)), `mutated #${i}`);
      const key = result.ok ? 'ok' : result.reason;
      reasons.set(key, (reasons.get(key) ?? 0) + 1);
    }
    // Every outcome is reached, so none of the checks above is vacuous.
    expect([...reasons.keys()].sort()).toEqual([...DECODE_REASONS, 'ok'].sort());
  });

  test('50k mutations of signed requests never verify', () => {
    const r = rng(0x5eed0004);
    let verified = 0;
    let unchanged = 0;
    for (let i = 0; i < 50_000; i++) {
      const original = signedRequest(r);
      const mutated = mutate(r, original);
      const result = exercise(mutated, `signed #${i}`);
      if (!result.ok) continue;
      const originalLength = original.readUInt16BE(2);
      const sameOctets = mutated.length >= originalLength && mutated.subarray(0, originalLength).equals(original) && mutated.readUInt16BE(2) === originalLength;
      const verdict = verifyRequest(result.packet, SECRET, { requireMessageAuthenticator: true });
      if (sameOctets) {
        // Only padding was added: still the genuine packet (RFC 2865 §3 ignores octets past Length).
        unchanged++;
        expect(verdict).toBe('ok');
      } else if (verdict === 'ok') {
        verified++;
        throw new Error(`signed #${i}: a modified packet verified: ${mutated.toString('hex')}`);
      }
    }
    expect(verified).toBe(0);
    expect(unchanged).toBeGreaterThan(0);
  });
});
