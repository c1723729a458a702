import { sql } from 'kysely';
import type { KeyRing } from '../secrets/keyring';
import type { Db } from './connect';
import { sharedText } from './shared-values';
import { sealedSeedOf, toLoginToken, type LoginToken, type TokenRow } from './tokens';
import type { LoginUser } from './users';

export interface LoginData {
  readonly user: LoginUser;
  /** Active, assigned, inside their validity period (seeds opened). */
  readonly tokens: LoginToken[];
}

type LoginRow = { u_id: bigint; u_username: string; u_password_hash: string | null; u_method: string } & Partial<TokenRow> & {
  token_seed_sealed?: Buffer | null;
};

/**
 * A user (columns prefixed `u_`, as LoginRow) and one of their tokens (`t.*`, absent for a user without one) with its
 * sealed seed (`s`, token_seed: migration 0018; named apart from t.seed_sealed, the legacy copy older releases read),
 * for a FROM that ends in TOKEN_SEED_JOIN.
 */
const LOGIN_COLUMNS = sql`u.id AS u_id, u.username AS u_username, u.password_hash AS u_password_hash, u.method AS u_method,
  t.*, s.seed_sealed AS token_seed_sealed`;
/** The seed of the token `t` joined: a primary-key probe per token, in the same statement. */
const TOKEN_SEED_JOIN = sql`LEFT JOIN token_seed s ON s.token_id = t.id`;

/**
 * Everything a login needs about several users, in ONE statement: the users and their active tokens.
 * The server asks for every user seen in one turn of the event loop at once (see LookupBatcher), so a
 * burst of logins costs one round trip and one plan instead of two per login. The statement is shaped
 * (unnest joined to the unique indexes) so that it stays index lookups even before the tables are analyzed.
 * Validity dates are not filtered here: the cache applies them at the moment of use (AuthCache).
 */
export async function loadLoginData(db: Db, keys: KeyRing, usernames: readonly string[]): Promise<Map<string, LoginData>> {
  const { rows } = await sql<LoginRow>`
    SELECT ${LOGIN_COLUMNS}
    FROM unnest(${usernames as string[]}::text[]) AS wanted(username)
    JOIN app_user u ON u.username = wanted.username
    LEFT JOIN token t ON t.user_id = u.id AND t.state = 'active'
    ${TOKEN_SEED_JOIN}
    ORDER BY u.id, t.id`.execute(db);
  return toLoginData(rows, keys);
}

/**
 * One page of every user (by id) with their active tokens, to warm a server's cache at start.
 * `t.user_id > after` says again what the join implies: without it PostgreSQL joined each page to the whole token
 * table (a hash join over a seq scan: 25 ms a page at 100 000 tokens, the warm-up growing with users x tokens);
 * with it, it walks the user index from the page's first user, alongside the page (a merge join, 1.4 ms).
 */
export async function loadLoginDataPage(db: Db, keys: KeyRing, afterUserId: bigint, pageSize: number): Promise<{ data: LoginData[]; lastUserId?: bigint }> {
  const after = String(afterUserId);
  const { rows } = await sql<LoginRow>`
    SELECT ${LOGIN_COLUMNS}
    FROM (SELECT * FROM app_user WHERE id > ${after}::bigint ORDER BY id LIMIT ${pageSize}) u
    LEFT JOIN token t ON t.user_id = u.id AND t.state = 'active' AND t.user_id > ${after}::bigint
    ${TOKEN_SEED_JOIN}
    ORDER BY u.id, t.id`.execute(db);
  const data = [...toLoginData(rows, keys).values()];
  return { data, lastUserId: data.length ? data[data.length - 1].user.id : undefined };
}

/**
 * The users of `rows` with their tokens, as the login cache keeps them: a token's user id is its user's own BigInt,
 * and a user's one token (the usual case) sits in an array of one: an array grown by its first push holds room for
 * 16 (about 130 octets a user more, over every user of the cache).
 */
function toLoginData(rows: readonly LoginRow[], keys: KeyRing): Map<string, LoginData> {
  const out = new Map<string, LoginData>();
  for (const r of rows) {
    const entry = out.get(r.u_username);
    const user = entry?.user ?? { id: r.u_id, username: r.u_username, passwordHash: r.u_password_hash, method: sharedText(r.u_method) };
    const token = r.id !== null && r.id !== undefined ? toLoginToken(r as TokenRow, keys.open(sealedSeedOf(r), 'token-seed'), user.id) : undefined;
    if (!entry) out.set(r.u_username, { user, tokens: token ? [token] : [] });
    else if (token) entry.tokens.push(token);
  }
  return out;
}
