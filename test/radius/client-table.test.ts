import { ClientTable, parseCidr, parseSourceAddress } from '../../src/radius/client-table';
import type { ClientEntry } from '../../src/radius/types';

function client(name: string, cidr: string): ClientEntry<{ tag: string }> {
  return { name, cidr, secret: Buffer.from(`secret-of-${name}`), requireMessageAuthenticator: true, data: { tag: name } };
}

describe('parseCidr', () => {
  const valid: [text: string, family: 4 | 6, network: number | bigint, prefix: number][] = [
    ['10.0.0.0/8', 4, 0x0a000000, 8],
    ['192.168.1.7', 4, 0xc0a80107, 32],
    ['0.0.0.0/0', 4, 0, 0],
    ['255.255.255.255/32', 4, 0xffffffff, 32],
    [' 172.16.0.0/12 ', 4, 0xac100000, 12],
    ['::/0', 6, 0n, 0],
    ['::1', 6, 1n, 128],
    ['2001:db8::/32', 6, 0x20010db8n << 96n, 32],
    ['2001:db8:0:0:0:0:0:1/128', 6, (0x20010db8n << 96n) | 1n, 128],
    ['fe80::/10', 6, 0xfe80n << 112n, 10],
    // IPv4-mapped networks denote IPv4 networks (RFC 4291 §2.5.5.2)
    ['::ffff:10.0.0.0/104', 4, 0x0a000000, 8],
    ['::ffff:10.1.2.3', 4, 0x0a010203, 32],
    ['::ffff:0:0/96', 4, 0, 0],
  ];
  test.each(valid)('%s -> IPv%s network %s /%s', (text, family, network, prefix) => {
    expect(parseCidr(text)).toEqual({ ok: true, cidr: { family, network, prefix } });
  });

  const invalid: [text: string, why: RegExp][] = [
    ['', /not an IPv4 or IPv6 address/],
    ['10.0.0.0/33', /prefix length must be 0\.\.32/],
    ['::/129', /prefix length must be 0\.\.128/],
    ['10.0.0.0/', /prefix length/],
    ['10.0.0.0/-1', /prefix length/],
    ['10.0.0.0/8/8', /prefix length/],
    ['10.0.0.256/32', /not an IPv4 or IPv6 address/],
    ['10.0.0/24', /not an IPv4 or IPv6 address/],
    ['example.com/24', /not an IPv4 or IPv6 address/],
    ['10.1.2.3/8', /host bits are set.*did you mean 10\.0\.0\.0\/8/],
    ['2001:db8::1/32', /host bits are set/],
    ['fe80::1%eth0/128', /zone ids are not allowed/],
    ['1:2:3:4:5:6:7:8:9', /not an IPv4 or IPv6 address/],
  ];
  test.each(invalid)('%j is refused (%s)', (text, why) => {
    const result = parseCidr(text);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toMatch(why);
  });
});

describe('parseSourceAddress', () => {
  const cases: [address: string, expected: ReturnType<typeof parseSourceAddress>][] = [
    ['10.1.2.3', { family: 4, value: 0x0a010203 }],
    ['::ffff:10.1.2.3', { family: 4, value: 0x0a010203 }],
    ['::ffff:a01:203', { family: 4, value: 0x0a010203 }],
    ['::1', { family: 6, value: 1n }],
    ['fe80::1%eth0', { family: 6, value: (0xfe80n << 112n) | 1n }],
    ['not-an-address', undefined],
    ['', undefined],
  ];
  test.each(cases)('%j', (address, expected) => {
    expect(parseSourceAddress(address)).toEqual(expected);
  });
});

describe('ClientTable.match', () => {
  const table = new ClientTable([
    client('everything-v4', '0.0.0.0/0'),
    client('ten', '10.0.0.0/8'),
    client('ten-one', '10.1.0.0/16'),
    client('nas-host', '10.1.2.3'),
    client('mapped-net', '::ffff:192.168.0.0/112'),
    client('doc-v6', '2001:db8::/32'),
    client('doc-v6-sub', '2001:db8:1::/48'),
    client('loopback-v6', '::1/128'),
  ]);

  // The longest matching prefix wins, whatever the order of the configuration.
  const cases: [address: string, expected: string | undefined][] = [
    ['10.1.2.3', 'nas-host'],
    ['10.1.2.4', 'ten-one'],
    ['10.2.0.1', 'ten'],
    ['11.0.0.1', 'everything-v4'],
    ['::ffff:10.1.2.3', 'nas-host'],
    ['::ffff:10.9.9.9', 'ten'],
    ['192.168.4.5', 'mapped-net'],
    ['::ffff:192.168.4.5', 'mapped-net'],
    ['2001:db8:1:2::5', 'doc-v6-sub'],
    ['2001:db8:2::5', 'doc-v6'],
    ['2001:db9::1', undefined],
    ['::1', 'loopback-v6'],
    ['::2', undefined],
    ['fe80::1%lo', undefined],
    ['garbage', undefined],
  ];
  test.each(cases)('%s -> %s', (address, expected) => {
    expect(table.match(address)?.name).toBe(expected);
    // second call is served from the per-address cache and must agree
    expect(table.match(address)?.name).toBe(expected);
  });

  test('returns the configured entry itself, with its secret and data', () => {
    const entry = table.match('10.1.2.3');
    expect(entry?.data).toEqual({ tag: 'nas-host' });
    expect(entry?.secret.toString()).toBe('secret-of-nas-host');
  });

  test('order of configuration does not matter', () => {
    const entries = [client('a', '10.0.0.0/8'), client('b', '10.1.0.0/16'), client('c', '10.1.2.0/24')];
    const forward = new ClientTable(entries);
    const backward = new ClientTable([...entries].reverse());
    for (const address of ['10.1.2.9', '10.1.3.9', '10.3.3.3']) {
      expect(forward.match(address)?.name).toBe(backward.match(address)?.name);
    }
    expect(forward.match('10.1.2.9')?.name).toBe('c');
  });

  test('an IPv4 /0 does not match IPv6 sources and vice versa', () => {
    const v4only = new ClientTable([client('v4', '0.0.0.0/0')]);
    const v6only = new ClientTable([client('v6', '::/0')]);
    expect(v4only.match('2001:db8::1')).toBeUndefined();
    expect(v6only.match('10.0.0.1')).toBeUndefined();
    expect(v6only.match('::ffff:10.0.0.1')).toBeUndefined();
    expect(v6only.match('2001:db8::1')?.name).toBe('v6');
  });

  test('the per-address cache stays bounded and still answers correctly after eviction', () => {
    const small = new ClientTable([client('ten', '10.0.0.0/8')], { addressCacheSize: 4 });
    for (let i = 0; i < 50; i++) expect(small.match(`10.0.0.${i}`)?.name).toBe('ten');
    for (let i = 0; i < 50; i++) expect(small.match(`11.0.0.${i}`)).toBeUndefined();
    expect(small.match('10.0.0.1')?.name).toBe('ten');
  });

  test('an empty table matches nothing', () => {
    expect(new ClientTable([]).match('127.0.0.1')).toBeUndefined();
  });
});

describe('ClientTable construction', () => {
  test('an invalid CIDR throws an error naming the client', () => {
    expect(() => new ClientTable([client('good', '10.0.0.0/8'), client('branch-office', '10.0.0.0/40')])).toThrow(
      /client "branch-office": invalid cidr/,
    );
  });

  test('two clients for the same network are refused, naming both', () => {
    expect(() => new ClientTable([client('first', '10.0.0.0/8'), client('second', '10.0.0.0/8')])).toThrow(
      /client "second".*same network as client "first"/,
    );
    // an IPv4-mapped spelling of the same network is the same network
    expect(() => new ClientTable([client('first', '10.1.2.3'), client('second', '::ffff:10.1.2.3/128')])).toThrow(
      /same network/,
    );
  });

  test('the error message does not contain the secret', () => {
    try {
      new ClientTable([client('nas', 'nope')]);
      throw new Error('expected the constructor to throw');
    } catch (err) {
      expect(String(err)).not.toContain('secret-of-nas');
    }
  });
});
