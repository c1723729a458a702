import { generateURI } from 'otplib';
import { base32Encode, buildKeyUri, KeyUriError, parseKeyUri, type KeyUriInput } from '../../src/otp';

const secret = Buffer.from('48656c6c6f21deadbeef', 'hex'); // "JBSWY3DPEHPK3PXP", a 10-byte seed

describe('buildKeyUri', () => {
  it.each<[string, KeyUriInput, string]>([
    [
      'TOTP with every default',
      { type: 'totp', issuer: 'Acme', account: 'bob', secret, algorithm: 'sha1', digits: 6, period: 30 },
      'otpauth://totp/Acme:bob?secret=JBSWY3DPEHPK3PXP&issuer=Acme',
    ],
    [
      'TOTP with non-defaults and characters to escape',
      { type: 'totp', issuer: 'Acme RADIUS', account: 'alice@example.com', secret, algorithm: 'sha256', digits: 8, period: 60 },
      'otpauth://totp/Acme%20RADIUS:alice%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=Acme%20RADIUS&algorithm=SHA256&digits=8&period=60',
    ],
    [
      'HOTP always carries the counter',
      { type: 'hotp', issuer: 'Acme', account: 'carol', secret, algorithm: 'sha512', digits: 6, counter: 5n },
      'otpauth://hotp/Acme:carol?secret=JBSWY3DPEHPK3PXP&issuer=Acme&algorithm=SHA512&counter=5',
    ],
    [
      'HOTP counter defaults to 0',
      { type: 'hotp', issuer: 'Acme', account: 'dave', secret, algorithm: 'sha1', digits: 6 },
      'otpauth://hotp/Acme:dave?secret=JBSWY3DPEHPK3PXP&issuer=Acme&counter=0',
    ],
    [
      'reserved and non-ASCII characters are percent-encoded',
      { type: 'totp', issuer: 'A&B=C/é', account: 'b+o#b?', secret, algorithm: 'sha1', digits: 6 },
      'otpauth://totp/A%26B%3DC%2F%C3%A9:b%2Bo%23b%3F?secret=JBSWY3DPEHPK3PXP&issuer=A%26B%3DC%2F%C3%A9',
    ],
  ])('%s', (_, input, expected) => {
    expect(buildKeyUri(input)).toBe(expected);
  });

  it.each<KeyUriInput>([
    { type: 'totp', issuer: 'Acme', account: 'bob', secret, algorithm: 'sha1', digits: 6 },
    { type: 'totp', issuer: 'Acme RADIUS', account: 'alice@example.com', secret: Buffer.alloc(32, 9), algorithm: 'sha256', digits: 8, period: 60 },
    { type: 'totp', issuer: 'Ünïcode Co', account: 'ñame with spaces', secret: Buffer.alloc(64, 3), algorithm: 'sha512', digits: 7, period: 30 },
    { type: 'hotp', issuer: 'Acme', account: 'carol', secret, algorithm: 'sha1', digits: 6, counter: 0n },
    { type: 'hotp', issuer: 'A&B', account: 'x+y', secret, algorithm: 'sha256', digits: 8, counter: 123n },
  ])('matches otplib generateURI exactly: %#', (input) => {
    const theirs = generateURI({
      strategy: input.type,
      issuer: input.issuer,
      label: input.account,
      secret: base32Encode(input.secret),
      algorithm: input.algorithm,
      digits: input.digits as 6 | 7 | 8,
      period: input.period,
      counter: input.counter === undefined ? undefined : Number(input.counter),
    });
    // otplib leaves out counter=0 only if counter is undefined; we always write it for HOTP.
    expect(buildKeyUri(input)).toBe(input.type === 'hotp' && input.counter === undefined ? `${theirs}&counter=0` : theirs);
  });

  it.each<[string, Partial<KeyUriInput>, RegExp]>([
    ['a colon in the issuer', { issuer: 'Acme:Corp' }, /must not contain ":"/],
    ['a colon in the account', { account: 'dom:user' }, /must not contain ":"/],
    ['an empty account', { account: '' }, /must not be empty/],
    ['an empty secret', { secret: Buffer.alloc(0) }, /must not be empty/],
    ['4 digits', { digits: 4 }, /6-8 digits/],
    ['a zero period', { period: 0 }, /positive integer/],
    ['a fractional period', { period: 30.5 }, /positive integer/],
  ])('refuses %s', (_, change, message) => {
    const input: KeyUriInput = { type: 'totp', issuer: 'Acme', account: 'bob', secret, algorithm: 'sha1', digits: 6, ...change };
    expect(() => buildKeyUri(input)).toThrow(KeyUriError);
    expect(() => buildKeyUri(input)).toThrow(message);
  });
});

describe('parseKeyUri', () => {
  it.each<KeyUriInput>([
    { type: 'totp', issuer: 'Acme', account: 'bob', secret, algorithm: 'sha1', digits: 6, period: 30 },
    { type: 'totp', issuer: 'Acme RADIUS', account: 'alice@example.com', secret: Buffer.alloc(32, 9), algorithm: 'sha256', digits: 8, period: 60 },
    { type: 'totp', issuer: 'A&B=C/é', account: 'b+o#b?', secret: Buffer.alloc(64, 1), algorithm: 'sha512', digits: 7, period: 30 },
    { type: 'hotp', issuer: 'Acme', account: 'carol', secret, algorithm: 'sha1', digits: 6, counter: 18446744073709551615n },
  ])('round-trips buildKeyUri: %#', (input) => {
    const parsed = parseKeyUri(buildKeyUri(input));
    expect(parsed).toEqual({
      type: input.type,
      issuer: input.issuer,
      account: input.account,
      secret: input.secret,
      algorithm: input.algorithm,
      digits: input.digits,
      ...(input.type === 'totp' ? { period: input.period } : { counter: input.counter }),
    });
  });

  it.each([
    ['otpauth://totp/bob?secret=JBSWY3DPEHPK3PXP', { account: 'bob', issuer: undefined, period: 30, digits: 6, algorithm: 'sha1' }],
    ['otpauth://totp/Acme:%20%20bob?secret=jbsw%20y3dp%20ehpk%203pxp', { account: 'bob', issuer: 'Acme' }],
    ['otpauth://totp/Acme%3Abob?secret=JBSWY3DPEHPK3PXP', { account: 'bob', issuer: 'Acme' }],
    ['otpauth://totp/Label:bob?secret=JBSWY3DPEHPK3PXP&issuer=Param', { account: 'bob', issuer: 'Param' }],
    ['OTPAUTH://TOTP/bob?SECRET=JBSWY3DPEHPK3PXP&Algorithm=sha256', { type: 'totp', algorithm: 'sha256' }],
    ['otpauth://totp/bob?secret=JBSWY3DPEHPK3PXP&image=https%3A%2F%2Fx%2Fy.png&period=45', { period: 45 }],
    ['otpauth://hotp/bob?secret=JBSWY3DPEHPK3PXP&counter=0', { type: 'hotp', counter: 0n, period: undefined }],
    ['otpauth://totp/a+b?secret=JBSWY3DPEHPK3PXP', { account: 'a+b' }],
  ])('parses %s', (uri, expected: Record<string, unknown>) => {
    const parsed = parseKeyUri(uri) as unknown as Record<string, unknown> | null;
    expect(parsed).not.toBeNull();
    // Compare only the named fields; an `undefined` there means the field must be absent.
    expect(Object.fromEntries(Object.keys(expected).map((name) => [name, parsed?.[name]]))).toEqual(expected);
    expect((parsed?.secret as Buffer).equals(secret)).toBe(true);
  });

  it.each([
    ['http://totp/bob?secret=JBSWY3DPEHPK3PXP'],
    ['otpauth://motp/bob?secret=JBSWY3DPEHPK3PXP'],
    ['otpauth://totp/bob'],
    ['otpauth://totp/bob?issuer=Acme'],
    ['otpauth://totp/?secret=JBSWY3DPEHPK3PXP'],
    ['otpauth://totp/Acme:?secret=JBSWY3DPEHPK3PXP'],
    ['otpauth://totp/bob?secret='],
    ['otpauth://totp/bob?secret=JBSWY3DPEHPK3PX1'],
    ['otpauth://totp/bob?secret=JBSWY3DPEHPK3PXP&secret=MZXW6YTBOI'],
    ['otpauth://totp/bob?secret=JBSWY3DPEHPK3PXP&algorithm=MD5'],
    ['otpauth://totp/bob?secret=JBSWY3DPEHPK3PXP&digits=5'],
    ['otpauth://totp/bob?secret=JBSWY3DPEHPK3PXP&digits=9'],
    ['otpauth://totp/bob?secret=JBSWY3DPEHPK3PXP&digits=six'],
    ['otpauth://totp/bob?secret=JBSWY3DPEHPK3PXP&period=0'],
    ['otpauth://totp/bob?secret=JBSWY3DPEHPK3PXP&period=-30'],
    ['otpauth://totp/bob?secret=JBSWY3DPEHPK3PXP&period=1e3'],
    ['otpauth://hotp/bob?secret=JBSWY3DPEHPK3PXP'],
    ['otpauth://hotp/bob?secret=JBSWY3DPEHPK3PXP&counter=-1'],
    ['otpauth://hotp/bob?secret=JBSWY3DPEHPK3PXP&counter=18446744073709551616'],
    ['otpauth://totp/%E0%A4%A?secret=JBSWY3DPEHPK3PXP'],
    ['otpauth://totp/bob?secret=JBSWY3DPEHPK3PXP&issuer=%ZZ'],
    [''],
    [null],
    [{}],
  ])('rejects %p with null', (uri) => {
    expect(parseKeyUri(uri as string)).toBeNull();
  });
});
