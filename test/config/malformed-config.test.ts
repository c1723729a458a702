import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig, parseConfig } from '../../src/config/load';

/*
 * An admin's config file, mistyped or the wrong file: refused with one line naming the file and the key (or the
 * file and the problem), quickly, whatever it holds.
 */

const FILE = '/etc/radotp/radotp.yaml';

/** The message of the ConfigError that parsing `text` throws (fails the test when it parses). */
function refusal(text: string): string {
  try {
    parseConfig(text, FILE, {});
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(text)} to be refused, but it parsed`);
}

const yamlAt = (keyPath: string, value: string) =>
  keyPath.split('.').reduceRight((inner, k, i, all) => `${'  '.repeat(i)}${k}:${i === all.length - 1 ? ` ${value}` : '\n' + inner}`, '') + '\n';

describe('text keys refuse control characters, as the CLI does for the same values', () => {
  // node.name is in every log line and audit row, auth.issuer in the otpauth URI (`token enroll --issuer` refused
  // ESC, the config took it), the messages go to the NAS, which may show them on a user's terminal (pam_radius),
  // and a NUL in a path only failed later as "cannot read (ERR_INVALID_ARG_VALUE)".
  const keys = ['node.name', 'auth.issuer', 'auth.rejectMessage', 'auth.challengeMessage', 'auth.lockedMessage', 'auth.challengeExpiredMessage', 'dataDir', 'keyFile'];
  // [what, YAML for the value]
  const values: [string, string][] = [
    ['ESC', '"a\\e[31mb"'],
    ['NUL', '"a\\0b"'],
    ['a line break', '"a\\nb"'],
    ['DEL', '"a\\x7fb"'],
  ];
  describe.each(keys)('%s', (keyPath) => {
    test.each(values)('with %s', (_what, value) => {
      expect(refusal(yamlAt(keyPath, value))).toBe(`${FILE}: ${keyPath}: must not contain control characters`);
    });
  });
  test.each(['radius.dictionaries', 'previousKeyFiles'])('%s, in a list', (keyPath) => {
    expect(refusal(yamlAt(keyPath, '["ok", "a\\0b"]'))).toBe(`${FILE}: ${keyPath}.1: must not contain control characters`);
  });
  test('printable text with spaces and non-ASCII letters is still taken', () => {
    const cfg = parseConfig('node:\n  name: radius-1 Zürich\nauth:\n  rejectMessage: "Accès refusé"\n', FILE, {});
    expect([cfg.node.name, cfg.auth.rejectMessage]).toEqual(['radius-1 Zürich', 'Accès refusé']);
  });
});

describe('a file of many wrong keys', () => {
  // /etc/shadow given as --config printed every one of its lines as an unknown key, on one line of any length.
  test('names the first ten problems and counts the rest', () => {
    const text = Array.from({ length: 500 }, (_, i) => `k${i}: ${i}\n`).join('');
    const message = refusal(text);
    expect(message).not.toContain('\n');
    expect(message).toBe(`${FILE}: ${Array.from({ length: 10 }, (_, i) => `k${i}: unknown key`).join('; ')}; and 490 more problems`);
  });
  test('ten or fewer are all named', () => {
    const text = Array.from({ length: 10 }, (_, i) => `k${i}: ${i}\n`).join('');
    expect(refusal(text)).toBe(`${FILE}: ${Array.from({ length: 10 }, (_, i) => `k${i}: unknown key`).join('; ')}`);
  });
});

describe('config files that are not what was meant (loadConfig)', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-malformed-config-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, content: string | Buffer) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, content);
    return file;
  };

  // A 50 MB file of keys held the CLI for minutes at 2.6 GB of memory (`-c` naming a log or a dump by mistake).
  test('a 50 MB file is refused at once, naming it', () => {
    const line = 'key_with_a_long_name_to_fill_the_file: 12345678901234567890\n';
    const file = write('big.yaml', line.repeat(Math.ceil((50 * 1024 * 1024) / line.length)));
    const started = Date.now();
    expect(() => loadConfig(file, {})).toThrow(new ConfigError(`${file}: cannot read config file (larger than 1 MiB; is it the right file?)`));
    expect(Date.now() - started).toBeLessThan(5000);
  });

  test('a file of 1 MiB is read', () => {
    const file = write('padded.yaml', 'log:\n  level: warn\n' + '#'.repeat(1024 * 1024 - 20) + '\n');
    expect(fs.statSync(file).size).toBe(1024 * 1024);
    expect(loadConfig(file, {}).log.level).toBe('warn');
  });

  // [what, content, log.level read]
  const readable: [string, string | Buffer, string][] = [
    ['a byte order mark', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('log:\n  level: warn\n')]), 'warn'],
    ['CRLF line endings', 'log:\r\n  level: debug\r\n', 'debug'],
    ['an empty file', '', 'info'],
  ];
  test.each(readable)('%s is read as the same YAML', (what, content, level) => {
    expect(loadConfig(write(`${what.replace(/\W/g, '_')}.yaml`, content), {}).log.level).toBe(level);
  });
});

describe('an unknown key close to a real one names it', () => {
  // [yaml, message after the file name]
  const cases: [string, string][] = [
    ['radius:\n  maxPendng: 5\n', 'radius.maxPendng: unknown key (did you mean maxPending?)'],
    ['radius:\n  maxpending: 5\n', 'radius.maxpending: unknown key (did you mean maxPending?)'],
    ['auth:\n  lockout:\n    maxFailure: 3\n', 'auth.lockout.maxFailure: unknown key (did you mean maxFailures?)'],
    ['datadir: /var/lib/radotp\n', 'datadir: unknown key (did you mean dataDir?)'],
    ['audit:\n  retenion: 90d\n', 'audit.retenion: unknown key (did you mean retention?)'],
    ['radius:\n  port: 1812\n', 'radius.port: unknown key'],
    ['colour: red\n', 'colour: unknown key'],
  ];
  test.each(cases)('%j', (yaml, message) => {
    expect(refusal(yaml)).toBe(`${FILE}: ${message}`);
  });
});

describe('radius.listen naming one address twice', () => {
  // serve failed with "radius.listen.0: cannot listen on 127.0.0.1:1812: the port is in use (another radotp or
  // RADIUS server?)", sending the admin after another process when the config named the address twice.
  const cases: [string, string][] = [
    ['["127.0.0.1:1812", "127.0.0.1:1812"]', 'radius.listen.1: the same address as radius.listen.0 (127.0.0.1:1812)'],
    ['["127.0.0.1", "10.0.0.1:1645", "127.0.0.1:1812"]', 'radius.listen.2: the same address as radius.listen.0 (127.0.0.1:1812)'],
    ['["::1", "[::1]:1812"]', 'radius.listen.1: the same address as radius.listen.0 ([::1]:1812)'],
  ];
  test.each(cases)('%s', (list, message) => {
    expect(refusal(`radius:\n  listen: ${list}\n`)).toBe(`${FILE}: ${message}`);
  });
  test('one address on two ports, and port 0 twice (each gets its own), are fine', () => {
    expect(parseConfig('radius:\n  listen: ["127.0.0.1:1812", "127.0.0.1:1645", "127.0.0.1:0", "127.0.0.1:0"]\n', FILE, {}).radius.listen).toHaveLength(4);
  });
});
