import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseDurationSeconds } from '../../src/config/duration';
import { ConfigError, loadConfig, parseConfig, type LoadedConfig } from '../../src/config/load';
import { configSchema } from '../../src/config/schema';

const ROOT = path.resolve(__dirname, '../..');
const FILE = '/etc/radotp/radotp.yaml';

/** Parses `text` as if read from FILE, with no environment overrides. */
const parse = (text: string, env: NodeJS.ProcessEnv = {}) => parseConfig(text, FILE, env);

/** The message of the ConfigError that parsing `text` throws (fails the test when it parses). */
function refusal(text: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    parse(text, env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(text)} to be refused, but it parsed`);
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const defaults = () => parse('');

describe('bad values are refused as "<file>: <key.path>: <reason>" on one line', () => {
  // [yaml, key path, reason]
  const cases: [string, string, RegExp][] = [
    ['radius:\n  listen: 0.0.0.0:1812\n', 'radius.listen', /expected array/],
    ['radius:\n  listen: []\n', 'radius.listen', /too small/i],
    ['radius:\n  listen: ["radius.example:1812"]\n', 'radius.listen.0', /"radius\.example" is not an IP address/],
    ['radius:\n  listen: ["127.0.0.1:1812", "[::1:1812"]\n', 'radius.listen.1', /missing "\]" after the IPv6 address/],
    ['radius:\n  listen: ["10.0.0.1:1812:1"]\n', 'radius.listen.0', /write IPv6 addresses with a port as "\[addr\]:port"/],
    ['radius:\n  listen: ["127.0.0.1:70000"]\n', 'radius.listen.0', /port must be 0\.\.65535/],
    ['radius:\n  dictionaries: [""]\n', 'radius.dictionaries.0', /too small/i],
    ['radius:\n  maxPending: 0\n', 'radius.maxPending', /too small/i],
    ['radius:\n  maxPending: 2.5\n', 'radius.maxPending', /expected int/],
    ['radius:\n  duplicateWindow: soon\n', 'radius.duplicateWindow', /expected a duration/],
    ['radius:\n  duplicateCacheSize: 99\n', 'radius.duplicateCacheSize', /too small/i],
    ['radius:\n  clientRefresh: -1\n', 'radius.clientRefresh', /expected a duration/],
    ['radius: [1]\n', 'radius', /expected object/],
    ['database:\n  url: mysql://db/radotp\n', 'database.url', /expected a postgres:\/\/ URL/],
    ['database:\n  url: not a url\n', 'database.url', /expected a postgres:\/\/ URL/],
    ['database:\n  poolSize: 0\n', 'database.poolSize', /too small/i],
    ['database:\n  poolSize: 201\n', 'database.poolSize', /too big/i],
    ['dataDir: ""\n', 'dataDir', /too small/i],
    ['dataDir: 7\n', 'dataDir', /expected string/],
    ['keyFile: ""\n', 'keyFile', /too small/i],
    ['previousKeyFiles: old.key\n', 'previousKeyFiles', /expected array/],
    ['http:\n  listen: "localhost:9812"\n', 'http.listen', /"localhost" is not an IP address/],
    ['log:\n  level: loud\n', 'log.level', /expected one of .*"info"/],
    ['node:\n  name: ""\n', 'node.name', /too small/i],
    [`node:\n  name: ${'n'.repeat(65)}\n`, 'node.name', /too big/i],
    ['auth:\n  defaultMethod: sms\n', 'auth.defaultMethod', /expected one of "password"\|"token"/],
    [`auth:\n  rejectMessage: ${'x'.repeat(254)}\n`, 'auth.rejectMessage', /too big/i],
    ['auth:\n  challengeMessage: ""\n', 'auth.challengeMessage', /too small/i],
    [`auth:\n  lockedMessage: ${'x'.repeat(254)}\n`, 'auth.lockedMessage', /too big/i],
    [`auth:\n  challengeExpiredMessage: ${'x'.repeat(254)}\n`, 'auth.challengeExpiredMessage', /too big/i],
    ['auth:\n  allowUsersWithoutToken: "yes"\n', 'auth.allowUsersWithoutToken', /expected boolean/],
    ['auth:\n  challengeTtl: 2 minutes\n', 'auth.challengeTtl', /expected a duration/],
    ['auth:\n  pendingTokenTtl: 1w\n', 'auth.pendingTokenTtl', /expected a duration/],
    ['auth:\n  issuer: ""\n', 'auth.issuer', /too small/i],
    ['auth:\n  issuer: "ACME:VPN"\n', 'auth.issuer', /must not contain ":"/],
    ['auth:\n  totp:\n    window: 11\n', 'auth.totp.window', /too big/i],
    ['auth:\n  hotp:\n    lookAhead: -1\n', 'auth.hotp.lookAhead', /too small/i],
    ['auth:\n  lockout:\n    maxFailures: 0\n', 'auth.lockout.maxFailures', /too small/i],
    ['auth:\n  lockout:\n    duration: forever\n', 'auth.lockout.duration', /expected a duration/],
    ['auth:\n  loginCache:\n    maxUsers: 0\n', 'auth.loginCache.maxUsers', /too small/i],
    ['auth:\n  loginCache:\n    maxUsers: 10000001\n', 'auth.loginCache.maxUsers', /too big/i],
    ['auth:\n  loginCache:\n    maxUnknownNames: 2.5\n', 'auth.loginCache.maxUnknownNames', /expected int/],
    ['auth:\n  loginCache:\n    maxUnknownNames: "many"\n', 'auth.loginCache.maxUnknownNames', /expected number/],
    ['audit:\n  maxBacklog: 999\n', 'audit.maxBacklog', /too small/i],
    ['audit:\n  maxBacklog: 1e8\n', 'audit.maxBacklog', /too big/i],
  ];
  test.each(cases)('%j → %s', (yaml, keyPath, reason) => {
    const message = refusal(yaml);
    expect(message).not.toContain('\n');
    expect(message).toMatch(new RegExp(`^${escape(FILE)}: ${escape(keyPath)}: `));
    expect(message.slice(`${FILE}: ${keyPath}: `.length)).toMatch(reason);
  });

  test('several problems stay on one line, each with its key path', () => {
    const message = refusal('radius:\n  maxPending: 0\nlog:\n  level: loud\n');
    expect(message).not.toContain('\n');
    expect(message).toMatch(new RegExp(`^${escape(FILE)}: radius\\.maxPending: .+; log\\.level: .+$`));
  });
});

test('the memory limits an operator sizes for the user count default to what they were before they were keys', () => {
  const d = defaults();
  expect([d.auth.loginCache.maxUsers, d.auth.loginCache.maxUnknownNames, d.audit.maxBacklog]).toEqual([200_000, 25_000, 100_000]);
});

describe('listen addresses', () => {
  // An address without a port takes the port of its key: 1812 (RADIUS) or 9812 (HTTP), never the other's.
  // [yaml, pick, addresses as used]
  const cases: [string, (c: LoadedConfig) => unknown, unknown][] = [
    ['http:\n  listen: 127.0.0.1\n', (c) => c.http.listen, '127.0.0.1:9812'],
    ['http:\n  listen: "::1"\n', (c) => c.http.listen, '[::1]:9812'],
    ['http:\n  listen: "[::]"\n', (c) => c.http.listen, '[::]:9812'],
    ['http:\n  listen: 10.0.0.1:8080\n', (c) => c.http.listen, '10.0.0.1:8080'],
    ['radius:\n  listen: ["10.0.0.1", "::", "[::1]", "127.0.0.1:1645", "[::1]:0"]\n', (c) => c.radius.listen, ['10.0.0.1:1812', '[::]:1812', '[::1]:1812', '127.0.0.1:1645', '[::1]:0']],
  ];
  test.each(cases)('%j', (yaml, pick, expected) => {
    expect(pick(parse(yaml))).toEqual(expected);
  });
});

describe('unknown keys are refused with their path', () => {
  const cases: [string, string][] = [
    ['colour: red\n', 'colour'],
    ['radius:\n  port: 1812\n', 'radius.port'],
    ['database:\n  host: db.example\n', 'database.host'],
    ['http:\n  port: 80\n', 'http.port'],
    ['log:\n  file: /var/log/radotp\n', 'log.file'],
    ['node:\n  id: 3\n', 'node.id'],
    ['auth:\n  method: password\n', 'auth.method'],
    ['auth:\n  totp:\n    step: 30\n', 'auth.totp.step'],
    ['auth:\n  hotp:\n    window: 3\n', 'auth.hotp.window'],
    ['auth:\n  lockout:\n    minutes: 15\n', 'auth.lockout.minutes'],
    ['auth:\n  loginCache:\n    size: 5\n', 'auth.loginCache.size'],
  ];
  test.each(cases)('%j → %s', (yaml, keyPath) => {
    expect(refusal(yaml)).toBe(`${FILE}: ${keyPath}: unknown key`);
  });

  test('two unknown keys in one section are both named', () => {
    expect(refusal('radius:\n  port: 1\n  host: x\n')).toBe(`${FILE}: radius.port: unknown key; radius.host: unknown key`);
  });
});

describe('YAML that does not parse', () => {
  // [yaml, line of the mistake]
  const cases: [string, string, number][] = [
    ['a nested mapping on one line', 'radius:\n  maxPending: 5: 6\nlog: {}\n', 2],
    ['a duplicate key', 'log:\n  level: info\n  level: debug\n', 3],
    ['a tab used for indentation', 'radius:\n\tmaxPending: 5\n', 2],
    // read as plain text before: refused, as radotp knows no tag of its own
    ['an unknown tag', 'log:\n  level: !secret info\n', 2],
    ['two documents', 'log: {}\n---\nlog: {}\n', 2],
  ];
  test.each(cases)('%s: the message names the line', (_name, yaml, line) => {
    const message = refusal(yaml);
    expect(message).not.toContain('\n');
    expect(message).toMatch(new RegExp(`^${escape(FILE)}:${line}:\\d+: invalid YAML: `));
  });

  test('a top level that is not a mapping', () => {
    expect(refusal('- radius\n- log\n')).toBe(`${FILE}: expected a mapping at the top level`);
    expect(refusal('!!binary aGVsbG8=\n')).toBe(`${FILE}: expected a mapping at the top level`);
  });

  test('aliases expanding to millions of values (an alias bomb) are refused, naming the file', () => {
    const levels = 'abcdefg'.split('');
    const bomb = levels.map((name, i) => `${name}: &${name} [${i === 0 ? '"x", "x", "x"' : Array(10).fill(`*${levels[i - 1]}`).join(', ')}]\n`).join('');
    expect(refusal(bomb)).toMatch(new RegExp(`^${escape(FILE)}: invalid YAML: [^\n]*alias`));
  });

  test('a few aliases are fine', () => {
    const cfg = parse('previousKeyFiles: &old [old.key]\nradius:\n  dictionaries: *old\n');
    expect([cfg.previousKeyFiles, cfg.radius.dictionaries]).toEqual([['/etc/radotp/old.key'], ['/etc/radotp/old.key']]);
  });
});

describe('typed YAML values (binary, dates, sets, ordered maps) are refused as what the key expects', () => {
  // [yaml, the message after the file name]
  const cases: [string, string][] = [
    ['log: !!binary aGVsbG8=\n', 'log: expected object, not binary data (!!binary)'],
    ['dataDir: !!binary aGVsbG8=\n', 'dataDir: expected string, not binary data (!!binary)'],
    ['http:\n  listen: !!binary aGVsbG8=\n', 'http.listen: expected string, not binary data (!!binary)'],
    ['radius:\n  listen: ["127.0.0.1:1812", !!binary aGVsbG8=]\n', 'radius.listen.1: expected string, not binary data (!!binary)'],
    ['auth:\n  challengeTtl: !!timestamp 2001-12-14\n', 'auth.challengeTtl: expected a duration from 1s to 1h, such as "2m" (a number alone is seconds), not a date (!!timestamp)'],
    // YAML 1.1 reads a date without a tag
    ['%YAML 1.1\n---\nnode:\n  name: 2001-12-14\n', 'node.name: expected string, not a date (!!timestamp)'],
    ['previousKeyFiles: !!set {a.key}\n', 'previousKeyFiles: expected array, not a set (!!set)'],
    ['auth: !!omap [{defaultMethod: token}]\n', 'auth: expected object, not an ordered map (!!omap)'],
    ['log: !!binary aGVsbG8=\nbogus: !!set {a}\n', 'log: expected object, not binary data (!!binary); bogus: unknown key'],
    // an alias inside its own anchor is a cycle: walked once
    ['radius:\n  listen: &a [*a]\n', 'radius.listen.0: Invalid input: expected string, received array'],
    // data, not the prototype
    ['__proto__: {x: 1}\n', '__proto__: unknown key'],
  ];
  test.each(cases)('%j', (yaml, message) => {
    expect(refusal(yaml)).toBe(`${FILE}: ${message}`);
  });
});

describe('config.example.yaml', () => {
  const exampleFile = path.join(ROOT, 'config.example.yaml');
  const example = () => parseConfig(fs.readFileSync(exampleFile, 'utf8'), exampleFile, {});

  test('parses', () => {
    expect(example).not.toThrow();
  });

  test('shows the defaults: loading it is the same as loading an empty file in the same folder', () => {
    expect(example()).toEqual(parseConfig('', exampleFile, {}));
  });

  // The example spelt keyFile out as ./data/master.key, so a copy whose dataDir was changed (the first edit an
  // admin makes: dataDir: /var/lib/radotp) kept the key in ./data next to the config, and `radotp init` failed
  // with "keyFile: /etc/radotp/data/master.key: folder /etc/radotp/data does not exist".
  test('a copy with only dataDir changed keeps the key file in that dataDir', () => {
    const text = fs.readFileSync(exampleFile, 'utf8');
    expect(text).toMatch(/^dataDir: \.\/data$/m);
    const copy = parseConfig(text.replace(/^dataDir: \.\/data$/m, 'dataDir: /var/lib/radotp'), '/etc/radotp/radotp.yaml', {});
    expect(copy.keyFilePath).toBe('/var/lib/radotp/master.key');
  });

  test('the ranges its comments state ("1s..10m", "0..10") are the ranges the keys accept', () => {
    // The key line after a comment stating a range; key paths from the indentation.
    const stated: [string, string, string][] = [];
    const parents: { indent: number; key: string }[] = [];
    let ranges: [string, string][] = [];
    for (const line of fs.readFileSync(exampleFile, 'utf8').split('\n')) {
      const comment = /^\s*#(.*)$/.exec(line);
      if (comment) {
        for (const m of comment[1]!.matchAll(/(\d+(?:ms|s|m|h|d)?)\.\.(\d+(?:ms|s|m|h|d)?)/g)) ranges.push([m[1]!, m[2]!]);
        continue;
      }
      const key = /^(\s*)(\w+):/.exec(line);
      if (!key) continue;
      const indent = key[1]!.length;
      while (parents.length && parents[parents.length - 1]!.indent >= indent) parents.pop();
      const keyPath = [...parents.map((p) => p.key), key[2]!].join('.');
      parents.push({ indent, key: key[2]! });
      for (const [lo, hi] of ranges) stated.push([keyPath, lo, hi]);
      ranges = [];
    }
    expect(stated.map(([k]) => k).sort()).toEqual(
      [
        'radius.maxPending', 'radius.duplicateWindow', 'radius.duplicateCacheSize', 'radius.socketBuffer', 'radius.clientRefresh', 'database.poolSize', 'database.queryTimeout',
        'auth.challengeTtl', 'auth.maxQueuedPasswordChecks', 'auth.pendingTokenTtl', 'auth.totp.window', 'auth.hotp.lookAhead',
        'auth.lockout.maxFailures', 'auth.lockout.duration', 'auth.loginCache.maxUsers', 'auth.loginCache.maxUnknownNames', 'audit.retention', 'audit.maxBacklog',
      ].sort(),
    );
    const yamlAt = (keyPath: string, value: string) =>
      keyPath.split('.').reduceRight((inner, k, i) => `${'  '.repeat(i)}${k}:${i === keyPath.split('.').length - 1 ? ` ${value}` : '\n' + inner}`, '') + '\n';
    // Just beyond a bound: one less or more for a count, 1% for a duration.
    const beyond = (bound: string, by: number) => (/^\d+$/.test(bound) ? String(Number(bound) + by) : String(parseDurationSeconds(bound)! * (1 + by / 100)));
    for (const [keyPath, lo, hi] of stated) {
      expect(() => parse(yamlAt(keyPath, lo))).not.toThrow();
      expect(() => parse(yamlAt(keyPath, hi))).not.toThrow();
      expect(refusal(yamlAt(keyPath, beyond(lo, -1)))).toMatch(new RegExp(`^${escape(FILE)}: ${escape(keyPath)}: `));
      expect(refusal(yamlAt(keyPath, beyond(hi, 1)))).toMatch(new RegExp(`^${escape(FILE)}: ${escape(keyPath)}: `));
    }
  });

  test('keys marked "example" are commented out', () => {
    const text = fs.readFileSync(exampleFile, 'utf8');
    const marked = text.split('\n').filter((l) => /#\s*example\s*$/.test(l));
    expect(marked.length).toBeGreaterThan(0);
    for (const line of marked) expect(line).toMatch(/^\s*#/);
    expect(example().database.url).toBeUndefined();
    expect(example().node.name).toBeUndefined();
  });
});

describe('every key is documented, with its default, in config.example.yaml and README', () => {
  /** The schema's key paths ("radius.listen", "auth.lockout.duration"), walking zod's definitions. */
  function keyPaths(schema: unknown, at: string[] = []): string[] {
    const def = (schema as { _zod: { def: Record<string, any> } })._zod.def;
    switch (def.type) {
      case 'pipe': // section()'s preprocess is pipe(transform, object); a duration is pipe(default(union), transform)
        return keyPaths(def.out._zod.def.type === 'transform' ? def.in : def.out, at);
      case 'prefault':
      case 'default':
      case 'optional':
      case 'nullable':
        return keyPaths(def.innerType, at);
      case 'object':
        return Object.entries(def.shape as Record<string, unknown>).flatMap(([k, v]) => keyPaths(v, [...at, k]));
      default:
        return [at.join('.')];
    }
  }
  const keys = keyPaths(configSchema);
  const pick = (c: object, keyPath: string) => keyPath.split('.').reduce<any>((o, k) => o?.[k], c);
  const yamlAt = (keyPath: string, value: string) =>
    keyPath.split('.').reduceRight((inner, k, i, all) => `${'  '.repeat(i)}${k}:${i === all.length - 1 ? ` ${value}` : '\n' + inner}`, '') + '\n';

  test('the walk finds them', () => {
    expect(keys).toContain('auth.lockout.duration');
    expect(keys.length).toBeGreaterThan(25);
  });

  test('config.example.yaml has each key, commented out where it is an example', () => {
    const found: string[] = [];
    const parents: { indent: number; key: string }[] = [];
    for (const line of fs.readFileSync(path.join(ROOT, 'config.example.yaml'), 'utf8').split('\n')) {
      const key = /^(\s*)(?:# )?(\w+):(?: |$)/.exec(line);
      if (!key) continue;
      const indent = key[1]!.length;
      while (parents.length && parents[parents.length - 1]!.indent >= indent) parents.pop();
      found.push([...parents.map((p) => p.key), key[2]!].join('.'));
      if (!line.includes('#')) parents.push({ indent, key: key[2]! });
    }
    expect(keys.filter((k) => !found.includes(k))).toEqual([]);
  });

  // README's configuration table: | `a`, `b` | `default a`, `default b` | meaning |
  const section = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8').split('## Configuration reference')[1]!.split('\n#')[0]!;
  const rows = section
    .split('\n')
    .filter((l) => l.startsWith('| `'))
    .map((l) => l.split(' | ').map((cell) => [...cell.matchAll(/`([^`]*)`/g)].map((m) => m[1]!)));
  // Defaults README states in words: [key, words]
  const inWords: [string, RegExp][] = [
    ['database.url', /^\| `database\.url` \| none \|/m],
    ['node.name', /^\| `node\.name` \| host name \|/m],
    ['keyFile', /^\| `keyFile`, `previousKeyFiles` \| `<dataDir>\/master\.key`/m],
  ];

  test("README's table has each key", () => {
    const documented = rows.flatMap(([names]) => names!);
    expect(keys.filter((k) => !documented.includes(k))).toEqual([]);
    expect(documented.filter((k) => !keys.includes(k))).toEqual([]);
  });

  test.each(keys.filter((k) => !inWords.some(([w]) => w === k)))("README's table states the default of %s", (keyPath) => {
    const row = rows.find(([names]) => names!.includes(keyPath))!;
    const stated = row[1]![row[0]!.indexOf(keyPath)];
    expect(stated).toBeDefined();
    // written as YAML under its key, it reads as the default (durations in seconds, listen addresses normalised)
    const value = /^[\[{"]|^(null|true|false|\d+)$/.test(stated!) ? stated! : JSON.stringify(stated);
    expect(pick(parse(yamlAt(keyPath, value)), keyPath)).toEqual(pick(defaults(), keyPath));
  });

  test.each(inWords)("README's table states the default of %s in words", (_key, row) => {
    expect(section).toMatch(row);
  });
});

describe('$RADOTP_DATABASE_URL', () => {
  const fileUrl = 'postgres://file@db-from-file:5432/radotp';
  const envUrl = 'postgresql://env@db-from-env:5433/radotp';

  test('overrides database.url from the file', () => {
    expect(parse(`database:\n  url: ${fileUrl}\n`, { RADOTP_DATABASE_URL: envUrl }).database.url).toBe(envUrl);
  });

  test('sets it when the file has none', () => {
    expect(parse('', { RADOTP_DATABASE_URL: envUrl }).database.url).toBe(envUrl);
  });

  test('absent or empty, the file decides', () => {
    expect(parse(`database:\n  url: ${fileUrl}\n`, {}).database.url).toBe(fileUrl);
    expect(parse(`database:\n  url: ${fileUrl}\n`, { RADOTP_DATABASE_URL: '' }).database.url).toBe(fileUrl);
  });

  test('a bad one is refused by name', () => {
    expect(refusal('', { RADOTP_DATABASE_URL: 'mysql://x/y' })).toBe('$RADOTP_DATABASE_URL: expected a postgres:// URL');
  });
});

describe('paths resolve against the config file folder', () => {
  const cases: [string, string, (c: LoadedConfig) => unknown, unknown][] = [
    ['dataDir', 'dataDir: ./state\n', (c) => c.dataDirPath, '/etc/radotp/state'],
    ['keyFile', 'keyFile: keys/master.key\n', (c) => c.keyFilePath, '/etc/radotp/keys/master.key'],
    ['keyFile defaults to <dataDir>/master.key', 'dataDir: ../lib/radotp\n', (c) => c.keyFilePath, '/etc/lib/radotp/master.key'],
    ['default dataDir', '', (c) => c.dataDirPath, '/etc/radotp/data'],
    ['previousKeyFiles', 'previousKeyFiles: [old.key, /abs/older.key]\n', (c) => c.previousKeyFiles, ['/etc/radotp/old.key', '/abs/older.key']],
    ['radius.dictionaries', 'radius:\n  dictionaries: [dict/extra]\n', (c) => c.radius.dictionaries, ['/etc/radotp/dict/extra']],
    ['absolute paths stay', 'dataDir: /var/lib/radotp\nkeyFile: /run/key\n', (c) => [c.dataDirPath, c.keyFilePath], ['/var/lib/radotp', '/run/key']],
  ];
  test.each(cases)('%s', (_name, yaml, pick, expected) => {
    expect(pick(parse(yaml))).toEqual(expected);
  });

  test('not against the working directory', () => {
    const other = parseConfig('dataDir: ./state\n', '/srv/other/radotp.yaml', {});
    expect(other.dataDirPath).toBe('/srv/other/state');
    expect(other.dataDirPath).not.toBe(path.resolve('./state'));
  });
});

describe('durations', () => {
  // The syntax, whatever the key: [written, seconds]
  const accepted: [unknown, number][] = [
    [120, 120],
    [0.5, 0.5],
    ['120', 120],
    ['120s', 120],
    ['15m', 900],
    ['1.5m', 90],
    ['2h', 7200],
    ['7d', 604800],
    ['250ms', 0.25],
    [' 30s ', 30],
  ];
  test.each(accepted)('%j is %d s', (written, seconds) => {
    expect(parseDurationSeconds(written)).toBe(seconds);
  });
  const refused: unknown[] = ['15 minutes', '1w', '-5s', '', 'h', -1, '1e3', Infinity, NaN, true, null];
  test.each(refused.map((v) => [v]))('%j is not a duration', (written) => {
    expect(parseDurationSeconds(written)).toBeUndefined();
  });

  // Every duration key has both bounds, stated in its message: [key path, yaml for a value, pick, min, max, default as written]
  const keys: [string, (v: string) => string, (c: LoadedConfig) => number, string, string, string][] = [
    ['radius.duplicateWindow', (v) => `radius:\n  duplicateWindow: ${v}\n`, (c) => c.radius.duplicateWindow, '1s', '10m', '30s'],
    ['radius.clientRefresh', (v) => `radius:\n  clientRefresh: ${v}\n`, (c) => c.radius.clientRefresh, '100ms', '1h', '10s'],
    ['database.queryTimeout', (v) => `database:\n  queryTimeout: ${v}\n`, (c) => c.database.queryTimeout, '1s', '10m', '10s'],
    ['auth.challengeTtl', (v) => `auth:\n  challengeTtl: ${v}\n`, (c) => c.auth.challengeTtl, '1s', '1h', '2m'],
    ['auth.pendingTokenTtl', (v) => `auth:\n  pendingTokenTtl: ${v}\n`, (c) => c.auth.pendingTokenTtl, '1m', '90d', '7d'],
    ['auth.lockout.duration', (v) => `auth:\n  lockout:\n    duration: ${v}\n`, (c) => c.auth.lockout.duration, '1s', '30d', '15m'],
  ];
  const yamlValue = (v: unknown) => JSON.stringify(v); // "15m" stays a string, 120 a number

  describe.each(keys)('%s', (keyPath, yaml, pick, min, max, example) => {
    const message = `${FILE}: ${keyPath}: expected a duration from ${min} to ${max}, such as "${example}" (a number alone is seconds)`;
    test.each([min, max])('%s (a bound) is accepted', (bound) => {
      expect(pick(parse(yaml(yamlValue(bound))))).toBe(parseDurationSeconds(bound));
    });
    // Just outside each bound, nonsense sizes (0, 1e308: PostgreSQL overflowed), wrong forms and types.
    const outside = (bound: string, factor: number) => (parseDurationSeconds(bound)! * factor).toString();
    test.each([outside(min, 0.99), outside(max, 1.01), '0', '0s', '1e308', '.inf', '-1', '"-5s"', '"15 minutes"', '"1w"', 'true', '[30]'])(
      '%s is refused, stating the range',
      (written) => {
        expect(refusal(yaml(written))).toBe(message);
      },
    );
  });

  test('defaults are in seconds', () => {
    const d = defaults();
    expect([d.radius.duplicateWindow, d.radius.clientRefresh, d.database.queryTimeout, d.auth.challengeTtl, d.auth.pendingTokenTtl, d.auth.lockout.duration]).toEqual([
      30, 10, 10, 120, 7 * 86400, 15 * 60,
    ]);
  });

  test('timers stay within setInterval\'s 2^31-1 ms (beyond it Node fires every millisecond)', () => {
    expect(parse('radius:\n  clientRefresh: 1h\n').radius.clientRefresh * 1000).toBeLessThanOrEqual(2 ** 31 - 1);
  });
});

describe('counts', () => {
  // Every whole-number key has both bounds: [key path, yaml for a value, pick, min, max]
  const keys: [string, (v: string) => string, (c: LoadedConfig) => number, number, number][] = [
    ['radius.maxPending', (v) => `radius:\n  maxPending: ${v}\n`, (c) => c.radius.maxPending, 1, 1_000_000],
    ['radius.duplicateCacheSize', (v) => `radius:\n  duplicateCacheSize: ${v}\n`, (c) => c.radius.duplicateCacheSize, 100, 10_000_000],
    ['radius.socketBuffer', (v) => `radius:\n  socketBuffer: ${v}\n`, (c) => c.radius.socketBuffer, 65_536, 268_435_456],
    ['database.poolSize', (v) => `database:\n  poolSize: ${v}\n`, (c) => c.database.poolSize, 1, 200],
    ['auth.maxQueuedPasswordChecks', (v) => `auth:\n  maxQueuedPasswordChecks: ${v}\n`, (c) => c.auth.maxQueuedPasswordChecks, 0, 100_000],
    ['auth.totp.window', (v) => `auth:\n  totp:\n    window: ${v}\n`, (c) => c.auth.totp.window, 0, 10],
    ['auth.hotp.lookAhead', (v) => `auth:\n  hotp:\n    lookAhead: ${v}\n`, (c) => c.auth.hotp.lookAhead, 0, 1000],
    ['auth.lockout.maxFailures', (v) => `auth:\n  lockout:\n    maxFailures: ${v}\n`, (c) => c.auth.lockout.maxFailures, 1, 1000],
  ];
  describe.each(keys)('%s', (keyPath, yaml, pick, min, max) => {
    test.each([min, max])('%d (a bound) is accepted', (n) => {
      expect(pick(parse(yaml(String(n))))).toBe(n);
    });
    // [written, reason]
    test.each([
      [String(min - 1), /too small/i],
      [String(max + 1), /too big/i],
      ['1e308', /too big/i],
      ['.inf', /expected number/],
      ['.nan', /expected number/],
      ['1.5', /expected int/],
      ['"5"', /expected number/],
    ])('%s is refused: %s', (written, reason) => {
      const message = refusal(yaml(written));
      expect(message).toMatch(new RegExp(`^${escape(FILE)}: ${escape(keyPath)}: `));
      expect(message.slice(`${FILE}: ${keyPath}: `.length)).toMatch(reason);
    });
  });
});

describe('audit.retention', () => {
  // [written, seconds kept, or null for every event]
  const accepted: [string, number | null][] = [
    ['null', null],
    ['"1d"', 86_400],
    ['"90d"', 90 * 86_400],
    ['"36h"', 36 * 3600],
    ['86400', 86_400],
  ];
  test.each(accepted)('%s keeps %p s', (written, seconds) => {
    expect(parse(`audit:\n  retention: ${written}\n`).audit.retention).toBe(seconds);
  });
  test('absent, every event is kept', () => {
    expect(defaults().audit.retention).toBeNull();
  });
  test('100 years is the most', () => {
    expect(parse('audit:\n  retention: 36500d\n').audit.retention).toBe(36_500 * 86_400);
  });
  // Less than a day is refused: `retention: 90` meant as days would otherwise empty the trail within minutes.
  // More than 100 years is refused: now - retention must stay a date (1e308 made it NaN).
  test.each(['90', '"23h"', '"0d"', '"36501d"', '1e308', '"forever"', '"-1d"', 'true'])('%s is refused with what to write instead', (written) => {
    expect(refusal(`audit:\n  retention: ${written}\n`)).toBe(
      `${FILE}: audit.retention: expected a duration from 1d to 36500d (100 years), such as "90d" (a number alone is seconds), or null to keep every event`,
    );
  });
});

describe('a section holding only comments means its defaults', () => {
  // [section path, yaml with that section emptied, pick]
  const cases: [string, string, (c: LoadedConfig) => unknown][] = [
    ['radius', 'radius:\n  # listen: ["0.0.0.0:1812"]\n', (c) => c.radius],
    ['database', 'database:\n  # url: postgres://x/y\n', (c) => c.database],
    ['http', 'http:\n  # listen: 127.0.0.1:9812\n', (c) => c.http],
    ['log', 'log:\n  # level: debug\n', (c) => c.log],
    ['node', 'node:\n  # name: radius-1\n', (c) => c.node],
    ['auth', 'auth:\n  # defaultMethod: token\n', (c) => c.auth],
    ['auth.totp', 'auth:\n  totp:\n    # window: 1\n', (c) => c.auth.totp],
    ['auth.hotp', 'auth:\n  hotp:\n    # lookAhead: 10\n', (c) => c.auth.hotp],
    ['auth.lockout', 'auth:\n  lockout:\n    # maxFailures: 10\n', (c) => c.auth.lockout],
    ['audit', 'audit:\n  # retention: 90d\n', (c) => c.audit],
  ];
  test.each(cases)('%s', (_name, yaml, pick) => {
    expect(pick(parse(yaml))).toEqual(pick(defaults()));
  });

  test('an empty file, and a file of comments, mean all defaults', () => {
    expect(parse('# nothing here\n')).toEqual(defaults());
  });

  test('an explicit http.listen: null turns the HTTP listener off (unlike an empty section)', () => {
    expect(parse('http:\n  listen: null\n').http.listen).toBeNull();
    expect(defaults().http.listen).toBe('127.0.0.1:9812');
  });
});

describe('which file is read (loadConfig)', () => {
  let dir: string;
  let cwd: string;
  beforeEach(() => {
    cwd = process.cwd();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-config-'));
  });
  afterEach(() => {
    process.chdir(cwd);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('--config naming a missing file is an error', () => {
    const missing = path.join(dir, 'missing.yaml');
    expect(() => loadConfig(missing, {})).toThrow(new ConfigError(`${missing}: cannot read config file (ENOENT)`));
  });

  test('$RADOTP_CONFIG naming a missing file is an error', () => {
    const missing = path.join(dir, 'missing.yaml');
    expect(() => loadConfig(undefined, { RADOTP_CONFIG: missing })).toThrow(new ConfigError(`${missing}: cannot read config file (ENOENT)`));
  });

  test('a missing ./radotp.yaml means defaults, relative to the working directory', () => {
    process.chdir(dir);
    const cfg = loadConfig(undefined, {});
    expect(cfg.source).toBeUndefined();
    expect(cfg.dataDirPath).toBe(path.join(fs.realpathSync(dir), 'data'));
    const { source: _s, dataDirPath: _d, keyFilePath: _k, ...rest } = cfg;
    const { source: _s2, dataDirPath: _d2, keyFilePath: _k2, ...restOfDefaults } = defaults();
    expect(rest).toEqual(restOfDefaults);
  });

  test('./radotp.yaml is read when present', () => {
    fs.writeFileSync(path.join(dir, 'radotp.yaml'), 'log:\n  level: warn\n');
    process.chdir(dir);
    const cfg = loadConfig(undefined, {});
    expect(cfg.source).toBe(path.join(fs.realpathSync(dir), 'radotp.yaml'));
    expect(cfg.log.level).toBe('warn');
  });

  test('--config wins over $RADOTP_CONFIG, which wins over ./radotp.yaml', () => {
    for (const [name, level] of [['explicit.yaml', 'error'], ['env.yaml', 'debug'], ['radotp.yaml', 'warn']]) {
      fs.writeFileSync(path.join(dir, name), `log:\n  level: ${level}\n`);
    }
    process.chdir(dir);
    expect(loadConfig(path.join(dir, 'explicit.yaml'), { RADOTP_CONFIG: path.join(dir, 'env.yaml') }).log.level).toBe('error');
    expect(loadConfig(undefined, { RADOTP_CONFIG: path.join(dir, 'env.yaml') }).log.level).toBe('debug');
    expect(loadConfig(undefined, {}).log.level).toBe('warn');
  });

  test('a config file that cannot be read (a folder) is an error, not defaults', () => {
    const folder = path.join(dir, 'radotp.yaml');
    fs.mkdirSync(folder);
    process.chdir(dir);
    expect(() => loadConfig(undefined, {})).toThrow(/radotp\.yaml: cannot read config file \(a folder, not a regular file or a pipe\)/);
  });
});
