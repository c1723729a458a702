import fs from 'node:fs';
import path from 'node:path';

/*
 * README's "Audit reasons" table is what an admin reads `radotp audit` with: every reason a login can be
 * decided with must be in it, and it must name none the server never writes. The reasons are string
 * literals where src/auth decides (accept('…'), reject('…'), fail('…'), challenge('…'), either side of a ternary, { reason: '…' },
 * an invalid request's { invalid: '…' }, the named constants and the database failures' table), so they are
 * read from the source: a reason added there without a row here fails this test.
 */

const ROOT = path.resolve(__dirname, '../..');

function sourcesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourcesUnder(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

const DECIDED_WITH = [
  /\b(?:accept|reject|fail|challenge)\('([a-z_]+)'/g,
  /\breason: '([a-z_]+)'/g,
  /\binvalid: '([a-z_]+)'/g,
  /\bconst (?:TOKEN_LOCKED|CHALLENGE_EXPIRED|UNSUPPORTED_AUTH_PROTOCOL|CONCURRENT_LOGINS|DATABASE_QUEUED|TOKEN_OWNER_CHANGED) = '([a-z_]+)'/g,
  /^\s+[a-z_]+: '(database_[a-z_]+)',$/gm,
  // reject(check.result === 'locked' ? 'password_locked' : 'bad_password'), or a named constant on the right
  /\? '([a-z_]+)' : (?:'([a-z_]+)'|[A-Z_]+)\)/g,
];

function reasonsInSource(): Set<string> {
  const found = new Set<string>();
  for (const file of sourcesUnder(path.join(ROOT, 'src/auth'))) {
    const text = fs.readFileSync(file, 'utf8');
    for (const pattern of DECIDED_WITH) for (const m of text.matchAll(pattern)) for (const r of m.slice(1)) if (r) found.add(r);
  }
  return found;
}

function reasonsInReadme(): Set<string> {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.split('\n## Audit reasons\n')[1]?.split('\n## ')[0] ?? '';
  const rows = section.split('\n').filter((l) => l.startsWith('| `'));
  return new Set(rows.flatMap((row) => [...row.split('|')[1]!.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!)));
}

describe("README's audit reasons", () => {
  const source = reasonsInSource();
  const readme = reasonsInReadme();

  test('the source is read (the patterns still find the decisions)', () => {
    for (const known of ['password_ok', 'code_ok', 'bad_password', 'locked', 'challenge_expired', 'unsupported_auth_protocol', 'no_username', 'database_timeout']) {
      expect([known, source.has(known)]).toEqual([known, true]);
    }
  });

  test('every reason a login is decided with has a row', () => {
    expect([...source].filter((r) => !readme.has(r)).sort()).toEqual([]);
  });

  test('every row names a reason the server writes', () => {
    expect([...readme].filter((r) => !source.has(r)).sort()).toEqual([]);
  });
});
