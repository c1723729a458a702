import { createHash } from 'node:crypto';
import { requestFingerprint } from '../../src/auth/retransmission';

/**
 * The fingerprint is stored with every spend (token.last_spent_by) and compared by other nodes, possibly of
 * another release: its bytes are fixed by its definition, computed here with node:crypto as the reference.
 */
function reference(clientName: string, authenticator: Buffer, username: string): string {
  const hash = createHash('sha256');
  for (const part of [Buffer.from(clientName, 'utf8'), authenticator, Buffer.from(username, 'utf8')]) {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(part.length);
    hash.update(length).update(part);
  }
  return hash.digest().subarray(0, 16).toString('hex');
}

const AUTHENTICATOR = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const request = (name: string, username: string, authenticator: Buffer = AUTHENTICATOR) => ({
  client: { name, address: '192.0.2.1', loginStyle: 'otp-only' as const },
  authenticator,
  username,
});

const CASES = [
  { why: 'a short client and user', name: 'vpn-gw', username: 'alice' },
  { why: 'an empty User-Name', name: 'vpn-gw', username: '' },
  { why: 'a non-ASCII User-Name (UTF-8 octets are hashed)', name: 'vpn-gw', username: 'jürgen.ŝtraße@example.org' },
  { why: 'the longest User-Name (253 octets, RFC 2865 §5.1)', name: 'vpn-gw', username: 'u'.repeat(253) },
  { why: 'parts spanning several SHA-256 blocks', name: 'n'.repeat(150), username: 'x'.repeat(70) },
  { why: 'a message of exactly one block (4+36 + 4+16 + 4+0 = 64 octets)', name: 'c'.repeat(36), username: '' },
  { why: 'a message whose padding spills into a second block (56 octets)', name: 'c'.repeat(28), username: '' },
];

describe('requestFingerprint', () => {
  it.each(CASES)('is the first 16 octets of SHA-256 over the length-prefixed parts: $why', ({ name, username }) => {
    expect(requestFingerprint(request(name, username))!.toString('hex')).toBe(reference(name, AUTHENTICATOR, username));
  });

  it('tells apart parts that concatenate to the same octets (the length prefixes)', () => {
    const a = requestFingerprint(request('gw', 'ab'))!.toString('hex');
    const b = requestFingerprint(request('gwa', 'b'))!.toString('hex');
    expect(a).not.toBe(b);
  });

  it('differs with the Request Authenticator (a new request) and repeats with it (a retransmission)', () => {
    const other = Buffer.from(AUTHENTICATOR);
    other[15] ^= 1;
    const first = requestFingerprint(request('gw', 'alice'))!;
    expect(requestFingerprint(request('gw', 'alice'))!.equals(first)).toBe(true);
    expect(requestFingerprint(request('gw', 'alice', other))!.equals(first)).toBe(false);
  });

  it('returns a buffer of its own: a later fingerprint does not change an earlier one', () => {
    const first = requestFingerprint(request('gw', 'alice'))!;
    const copy = Buffer.from(first);
    requestFingerprint(request('gw', 'bob'));
    expect(first.equals(copy)).toBe(true);
    expect(first.length).toBe(16);
  });

  it('is undefined without a Request Authenticator', () => {
    expect(requestFingerprint({ ...request('gw', 'alice'), authenticator: undefined })).toBeUndefined();
  });
});
