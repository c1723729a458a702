import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { TokenVerifier } from '../../src/auth/token-verifier';
import { AuthCache } from '../../src/store/auth-cache';
import { cacheThatHearsNothing, otpOnlyLogin } from '../support/stale-cache';
import { openStore, type Store } from '../../src/store/open';
import { ocra, ocraTimestamp, parseOcraSuite } from '../../src/otp';
import { TokenAdmin } from '../../src/tokens/admin';
import { currentStep, hotpForCounter, randomSeed, totpForStep } from '../support/otp-codes';
import { testConfig } from '../support/server';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/*
 * A token disabled (`radotp token disable`), locked or deleted (`radotp token delete`, the user kept) while a node's
 * login cache still holds it as the user's usable token: the change's notification is on its way, or the LISTEN
 * connection is down and not yet found out (up to the heartbeat's check, see ChangeListener). The spend's guard
 * refuses the code (state active, lock run out, same user); what the login is then told must say why:
 * - before, an OCRA token whose suite has no counter spends nothing and was checked only for its owner: disabled
 *   or locked, it was ACCEPTED on that node;
 * - a disabled or deleted HOTP/TOTP token's right code ended `bad_code` after the reload, and counted a failure
 *   against the user's other tokens (a right code is no guess at them);
 * - a token whose validity (valid_to/valid_from, from the PSKC file) ended by the database's clock was not in the
 *   guard at all: its code was ACCEPTED on that node (and on a node whose clock runs behind the database's, which
 *   the cache's own check of the validity goes by). It is refused as `token_expired`.
 * The cache here hears no notification (isLive says yes): it stands for the moment before the change's arrives.
 */
let db: TestDatabase;
let dir: string;
let store: Store;
let admin: TokenAdmin;
const settings = { totpWindow: 1, hotpLookAhead: 10, maxFailures: 5, lockSeconds: 600 };
beforeAll(async () => {
  db = await createTestDatabase();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-stale-'));
  store = await openStore(testConfig(dir, db.url).cfg, { createKey: true, migrate: true, poolSize: 4 });
  admin = new TokenAdmin(store, new TokenVerifier(store.tokens, store.keys, settings), { pendingTokenTtl: 600 });
});
afterAll(async () => {
  await store?.close();
  await db?.drop();
  fs.rmSync(dir, { recursive: true, force: true });
});

type Kind = 'hotp' | 'totp' | 'ocra (no counter)';
type Change = 'disabled' | 'locked' | 'deleted' | 'validity ended';
let n = 0;

const login = (cache: AuthCache, username: string, code: string) => otpOnlyLogin(testConfig(dir, db.url).cfg, store, cache, username, code);

const OCRA_SUITE = 'OCRA-1:HOTP-SHA1-6:QN08-T1M';

async function change(serial: string, what: Change): Promise<void> {
  if (what === 'disabled') await admin.disable(serial, 'lost');
  else if (what === 'locked') await store.tokens.update(serial, { fail_count: 5, locked_until: new Date(Date.now() + 600_000) });
  else if (what === 'deleted') await admin.delete(serial);
  // no radotp command moves a validity (it comes from the PSKC file): a DBA's UPDATE, notified as any token change
  else await sql`UPDATE token SET valid_to = now() - interval '1 second' WHERE serial = ${serial}`.execute(store.db);
}

/**
 * ann holds a token and a spare HOTP token, both known to a cache; the first then changes. Returns the result of her
 * login with the first token's right code on that cache: the pipeline's (otp-only) for HOTP/TOTP, the verifier's
 * with a reload (as TokenMethod asks it, for the answer to an OCRA challenge) for OCRA.
 */
async function staleLogin(kind: Kind, what: Change): Promise<{ reason: string; spare: string; before?: { lastStep: bigint; nextCounter: bigint } }> {
  const i = ++n;
  const seed = randomSeed();
  const ann = await store.users.add({ username: `ann${i}`, passwordHash: null, method: 'token' });
  const serial = `STALE-${i}`;
  const spare = `SPARE-${i}`;
  const ocraToken = kind === 'ocra (no counter)';
  await store.tokens.create({ serial, userId: ann.id, origin: 'hardware', kind: ocraToken ? 'ocra' : kind, ocraSuite: ocraToken ? OCRA_SUITE : null, state: 'active', algorithm: 'sha1', digits: 6, seed });
  await store.tokens.create({ serial: spare, userId: ann.id, origin: 'hardware', kind: 'hotp', state: 'active', algorithm: 'sha1', digits: 6, seed: randomSeed() });
  const cache = cacheThatHearsNothing(store);
  const cached = await cache.usableForUser((await cache.findUser(ann.username))!); // ann and her tokens, cached
  await change(serial, what);
  let reason: string;
  if (ocraToken) {
    const suite = parseOcraSuite(OCRA_SUITE);
    const question = '12345678';
    const response = ocra(suite, seed, { question, timestamp: ocraTimestamp(suite, Date.now() / 1000) });
    const verifier = new TokenVerifier(store.tokens, store.keys, settings);
    const fresh = async () => (await cache.usableForUser(ann, { fresh: true })).filter((t) => t.kind === 'ocra');
    reason = (await verifier.check(cached.filter((t) => t.kind === 'ocra'), response, { ocraQuestion: question, reload: fresh })).result;
  } else {
    const code = kind === 'hotp' ? hotpForCounter(seed, 0) : totpForStep(seed, currentStep());
    reason = (await login(cache, ann.username, code)).reason!;
  }
  const after = what === 'deleted' ? undefined : await store.tokens.get(serial);
  return { reason, spare: `failures ${(await store.tokens.get(spare)).failCount}`, before: after && { lastStep: after.lastStep, nextCounter: after.nextCounter } };
}

// [token kind, what became of it while the cache held it, the login's reason (pipeline) or check result (OCRA)]
const rows: [Kind, Change, string][] = [
  ['hotp', 'disabled', 'token_disabled'],
  ['totp', 'disabled', 'token_disabled'],
  ['ocra (no counter)', 'disabled', 'token_disabled'],
  ['hotp', 'locked', 'locked'],
  ['totp', 'locked', 'locked'],
  ['ocra (no counter)', 'locked', 'locked'],
  ['hotp', 'deleted', 'token_deleted'],
  ['totp', 'deleted', 'token_deleted'],
  ['ocra (no counter)', 'deleted', 'token_deleted'],
  ['hotp', 'validity ended', 'token_expired'], // was accept code_ok
  ['totp', 'validity ended', 'token_expired'], // was accept code_ok
  ['ocra (no counter)', 'validity ended', 'token_expired'], // was accept
];
test.each(rows)("a %s token %s while a node's cache holds it: refused (%s), nothing spent, no failure counted against the user's other token", async (kind, what, expected) => {
  const r = await staleLogin(kind, what);
  expect(r.reason).toBe(expected);
  expect(r.spare).toBe('failures 0'); // the right code of a token: no guess at her other one
  // nothing spent: the code is the one a token fresh from the factory shows first
  if (r.before) expect(r.before).toEqual({ lastStep: -1n, nextCounter: 0n });
});
