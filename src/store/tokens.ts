import { sql, type ExpressionBuilder, type Selectable } from 'kysely';
import { KeyError, type KeyRing } from '../secrets/keyring';
import type { Db } from './connect';
import { isUniqueViolation, NotFoundError, StoreConflictError } from './errors';
import type { StatementRunner } from './prepared';
import { sharedBigInt, sharedText } from './shared-values';
import { SpendBatcher, type SpendStats } from './spend-batcher';
import { atomically } from './transaction';
import type { Database, DisabledReason, TokenKind, TokenState, TokenTable } from './schema';

export type TokenRow = Selectable<TokenTable>;

/** A token as admins see it (never the seed). */
export interface TokenInfo {
  readonly id: bigint;
  readonly serial: string;
  readonly username: string | null;
  /** The id of the user it is assigned to (a guard for admin changes, see update). */
  readonly userId: bigint | null;
  readonly origin: 'software' | 'hardware';
  readonly kind: TokenKind;
  readonly state: TokenState;
  readonly algorithm: 'sha1' | 'sha256' | 'sha512';
  readonly digits: number;
  readonly period: number;
  readonly t0: bigint;
  readonly ocraSuite: string | null;
  readonly lastStep: bigint;
  readonly nextCounter: bigint;
  readonly drift: number;
  readonly failCount: number;
  readonly lockedUntil: Date | null;
  readonly description: string | null;
  readonly issuer: string | null;
  readonly manufacturer: string | null;
  readonly model: string | null;
  readonly validFrom: Date | null;
  readonly validTo: Date | null;
  readonly disabledReason: DisabledReason | null;
  readonly disabledNote: string | null;
  readonly pendingExpiresAt: Date | null;
  readonly lastUsedAt: Date | null;
  readonly createdAt: Date;
}

/** The info plus the opened seed (admin checks such as activation read whole rows). */
export interface TokenWithSeed extends TokenInfo {
  readonly seed: Buffer;
}

/**
 * What a login needs of a token, and all that the servers' login cache keeps of one: how to compute
 * its codes, its replay state, lock and validity, and the opened seed. Descriptions, dates and the
 * like stay in the database (the cache holds every user's tokens, so every field costs memory and GC).
 */
export type LoginToken = Pick<
  TokenWithSeed,
  | 'id'
  | 'serial'
  /** The user it was read as belonging to: a spend requires it to be theirs still (see SpendBatcher). */
  | 'userId'
  | 'kind'
  | 'algorithm'
  | 'digits'
  | 'period'
  | 't0'
  | 'ocraSuite'
  | 'lastStep'
  | 'nextCounter'
  | 'drift'
  | 'failCount'
  | 'lockedUntil'
  | 'validFrom'
  | 'validTo'
  | 'seed'
>;

/**
 * `userId`: the owner's id as the caller holds it already (the same value as the row's user_id), so a cached
 * token and its user share one BigInt. The values that repeat from row to row are shared too (see shared-values.ts).
 */
export function toLoginToken(r: TokenRow, seed: Buffer, userId: bigint | null = r.user_id): LoginToken {
  return {
    id: r.id,
    serial: r.serial,
    userId,
    kind: sharedText(r.kind),
    algorithm: sharedText(r.algorithm),
    digits: r.digits,
    period: r.period,
    t0: sharedBigInt(r.t0),
    ocraSuite: r.ocra_suite,
    lastStep: sharedBigInt(r.last_step),
    nextCounter: sharedBigInt(r.next_counter),
    drift: r.drift,
    failCount: r.fail_count,
    lockedUntil: r.locked_until,
    validFrom: r.valid_from,
    validTo: r.valid_to,
    seed,
  };
}

export interface NewToken {
  serial: string;
  userId: bigint | null;
  origin: 'software' | 'hardware';
  kind: TokenKind;
  state: TokenState;
  algorithm: 'sha1' | 'sha256' | 'sha512';
  digits: number;
  period?: number;
  t0?: bigint;
  ocraSuite?: string | null;
  seed: Buffer;
  counter?: bigint;
  drift?: number;
  description?: string | null;
  issuer?: string | null;
  manufacturer?: string | null;
  model?: string | null;
  validFrom?: Date | null;
  validTo?: Date | null;
  pendingExpiresAt?: Date | null;
}

type RowWithUser = TokenRow & { username: string | null };

export function toInfo(r: RowWithUser): TokenInfo {
  return {
    id: r.id,
    serial: r.serial,
    username: r.username,
    userId: r.user_id,
    origin: r.origin,
    kind: r.kind,
    state: r.state,
    algorithm: r.algorithm,
    digits: r.digits,
    period: r.period,
    t0: r.t0,
    ocraSuite: r.ocra_suite,
    lastStep: r.last_step,
    nextCounter: r.next_counter,
    drift: r.drift,
    failCount: r.fail_count,
    lockedUntil: r.locked_until,
    description: r.description,
    issuer: r.issuer,
    manufacturer: r.manufacturer,
    model: r.model,
    validFrom: r.valid_from,
    validTo: r.valid_to,
    disabledReason: r.disabled_reason,
    disabledNote: r.disabled_note,
    pendingExpiresAt: r.pending_expires_at,
    lastUsedAt: r.last_used_at,
    createdAt: r.created_at,
  };
}

export interface TokenFilter {
  username?: string;
  state?: TokenState;
  unassigned?: boolean;
  /** Only tokens locked now (too many wrong codes, lock not yet run out). */
  locked?: boolean;
}

export interface SpendOptions {
  /** A pending token's first code (see activateAtStep). */
  readonly activate?: boolean;
  /** The fingerprint of the login request spending the code, kept with the spend (migration 0011); none: NULL. */
  readonly spentBy?: Buffer;
  /** An admin's check of a token in the pool (see spendInPoolAtStep): spent there, the token left in the pool. */
  readonly inPool?: boolean;
  /**
   * The login's user, and so their method, came from a node's cache and nothing of the login read them fresh (the
   * otp-only style reads no password, whose read tells the method: see LocalPasswordFactor): the spend also requires
   * the user to log in with a token still (method `token`, see SpendBatcher). A lost spend tells it by
   * LastSpend.ownerMethod.
   */
  readonly tokenLogin?: boolean;
}

/** See TokenRepository.lastSpend. */
export interface LastSpend {
  /** The user the token is assigned to now (null: nobody): a spend for another user lost on that. */
  readonly userId: bigint | null;
  readonly lastStep: bigint;
  readonly nextCounter: bigint;
  readonly spentBy: Buffer | null;
  /** Spent within the window asked for. */
  readonly recent: boolean;
  /** The token's state now: a spend for a token disabled since it was read lost on that. */
  readonly state: TokenState;
  /** Set while a lock is in force (an expired lock reads as none): a spend lost on it. */
  readonly lockedUntil: Date | null;
  /** The method of the user the token is assigned to now (null: nobody's): a token login's spend lost on it. */
  readonly ownerMethod: string | null;
  /** Within its validity (valid_from/valid_to) by the database's clock: a spend for a token past it lost on that. */
  readonly valid: boolean;
}

/** What activation sets besides the step or counter it spends. */
const ACTIVATED = {
  fail_count: 0,
  locked_until: null,
  last_used_at: sql<Date>`now()`,
  state: 'active' as const,
  pending_expires_at: null,
  updated_at: sql<Date>`now()`,
};

/** Advisory lock key of token imports (an arbitrary constant, 'radotpTI'; see lockForImport). */
const TOKEN_IMPORT_LOCK = 0x7261646f74705449n;

/** What a spend needs to know of the token: which row, and the user it is spent for (see SpendBatcher). */
export type SpentToken = Pick<LoginToken, 'id' | 'userId'>;

function lockExpired(eb: ExpressionBuilder<Database, 'token'>) {
  return eb.or([eb('locked_until', 'is', null), eb('locked_until', '<=', sql<Date>`now()`)]);
}

/** Inside its validity period (valid_from/valid_to, the PSKC file's), by the database's clock. */
function withinValidity(eb: ExpressionBuilder<Database, 'token'>) {
  return eb.and([
    eb.or([eb('token.valid_to', 'is', null), eb('token.valid_to', '>', sql<Date>`now()`)]),
    eb.or([eb('token.valid_from', 'is', null), eb('token.valid_from', '<=', sql<Date>`now()`)]),
  ]);
}

/** The token is `userId`'s; never true for a null one (as the spend's `user_id = v.user_id`). */
function ownedBy(eb: ExpressionBuilder<Database, 'token'>, userId: bigint | null) {
  return userId === null ? sql<boolean>`false` : eb('user_id', '=', userId);
}

export class TokenRepository {
  private readonly spends: SpendBatcher;

  constructor(
    private readonly db: Db,
    private readonly keys: KeyRing,
    run: StatementRunner,
    /** Where a spend statement waits for a row lock only briefly (the spend pool, see SpendBatcher); none in a transaction. */
    spendRun?: StatementRunner,
  ) {
    this.spends = new SpendBatcher(run, spendRun);
  }

  /** This repository's spends since start (see SpendStats): what the node's /metrics reads. */
  get spendStats(): Readonly<SpendStats> {
    return this.spends.stats;
  }

  private base(db: Db = this.db) {
    return db.selectFrom('token').leftJoin('app_user', 'app_user.id', 'token.user_id').selectAll('token').select('app_user.username');
  }

  /**
   * base() and the sealed seed, in the same statement (a join on token_seed's primary key, migration 0018). A left
   * join: a token row without its seed row (only plain SQL makes one) is said so by openSeed, not taken for no token.
   * Named apart from the token row's own seed_sealed (the legacy copy, for older releases), which base() selects too.
   */
  private withSeed(db: Db = this.db) {
    return this.base(db).leftJoin('token_seed', 'token_seed.token_id', 'token.id').select('token_seed.seed_sealed as token_seed_sealed');
  }

  private openSeed(r: { serial: string; token_seed_sealed: Buffer | null }): Buffer {
    return this.keys.open(sealedSeedOf(r), 'token-seed');
  }

  sealSeed(seed: Buffer): Buffer {
    return this.keys.seal(seed, 'token-seed');
  }

  toInsertRow(t: NewToken) {
    return {
      serial: t.serial,
      user_id: t.userId,
      origin: t.origin,
      kind: t.kind,
      state: t.state,
      algorithm: t.algorithm,
      digits: t.digits,
      period: t.period ?? 30,
      t0: t.t0 ?? 0n,
      ocra_suite: t.ocraSuite ?? null,
      // written into the token row, as by every release: migration 0018's trigger copies it into token_seed in the
      // same statement, so the two copies cannot disagree
      seed_sealed: this.sealSeed(t.seed),
      // tells the seed imported again under a deleted serial from a new one (migration 0012)
      seed_fingerprint: this.keys.fingerprint(t.seed),
      next_counter: t.counter ?? 0n,
      drift: t.drift ?? 0,
      description: t.description ?? null,
      issuer: t.issuer ?? null,
      manufacturer: t.manufacturer ?? null,
      model: t.model ?? null,
      valid_from: t.validFrom ?? null,
      valid_to: t.validTo ?? null,
      pending_expires_at: t.pendingExpiresAt ?? null,
    };
  }

  async create(t: NewToken, db: Db = this.db): Promise<TokenInfo> {
    // The insert and the read back in one transaction: the insert's foreign key holds the user's row (KEY
    // SHARE) until the commit, so a `user remove` at that moment waits for it and cannot delete the new token
    // between the two statements (which told the admin "no token with serial" for the token just made).
    return atomically(db, async (tx) => {
      try {
        await tx.insertInto('token').values(this.toInsertRow(t)).execute();
      } catch (e) {
        if (isUniqueViolation(e)) throw new StoreConflictError(`a token with serial "${t.serial}" already exists`);
        throw e;
      }
      return this.get(t.serial, tx);
    });
  }

  async find(serial: string, db: Db = this.db): Promise<TokenInfo | undefined> {
    const r = await this.base(db).where('token.serial', '=', serial).executeTakeFirst();
    return r && toInfo(r);
  }

  async get(serial: string, db: Db = this.db): Promise<TokenInfo> {
    const t = await this.find(serial, db);
    if (!t) throw new NotFoundError(`no token with serial "${serial}"`);
    return t;
  }

  async getWithSeed(serial: string): Promise<TokenWithSeed> {
    const r = await this.withSeed().where('token.serial', '=', serial).executeTakeFirst();
    if (!r) throw new NotFoundError(`no token with serial "${serial}"`);
    return { ...toInfo(r), seed: this.openSeed(r) };
  }

  /**
   * The serials equal to `serial` ignoring case (PostgreSQL's lower()), sorted: what an admin typed off a fob
   * (see src/tokens/serial-lookup.ts). Served by the index on lower(serial) (migration 0016).
   */
  async serialsIgnoringCase(serial: string, db: Db = this.db): Promise<string[]> {
    const rows = await db.selectFrom('token').select('serial').where(sql<boolean>`lower(serial) = lower(${serial})`).execute();
    return rows.map((r) => r.serial).sort();
  }

  /**
   * Of these serials about to be imported, those that differ only by case from a serial in radotp: the serial
   * about to be imported, and the one there. Serials equal to one there are not included (see existingSeeds).
   */
  async caseVariants(serials: readonly string[], db: Db = this.db): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    for (let i = 0; i < serials.length; i += 5000) {
      const rows = await sql<{ typed: string; there: string }>`
        SELECT v.serial AS typed, t.serial AS there
        FROM unnest(${serials.slice(i, i + 5000)}::text[]) AS v(serial)
        JOIN token t ON lower(t.serial) = lower(v.serial) AND t.serial <> v.serial
        ORDER BY t.serial`.execute(db);
      for (const r of rows.rows) if (!found.has(r.typed)) found.set(r.typed, r.there);
    }
    return found;
  }

  /** Inserts many tokens with one statement (bulk import); `db` may be a transaction. */
  async insertMany(tokens: readonly NewToken[], db: Db = this.db): Promise<void> {
    // 20 columns a row: stay well below PostgreSQL's 65 535 bind parameters per statement
    for (let i = 0; i < tokens.length; i += 1000) {
      await db.insertInto('token').values(tokens.slice(i, i + 1000).map((t) => this.toInsertRow(t))).execute();
    }
  }

  /**
   * Serializes PSKC imports for the rest of the transaction `db` (waiting for one in progress to end).
   * Two imports of files that share a serial, run at once, both found it absent; the second then died on
   * the unique index with PostgreSQL's words, --skip-existing or not. One after the other, the second sees
   * the first's tokens and refuses the file naming the serial, or skips them as asked.
   */
  async lockForImport(db: Db): Promise<void> {
    await sql`SELECT pg_advisory_xact_lock(${TOKEN_IMPORT_LOCK.toString()}::bigint)`.execute(db);
  }

  /**
   * Of these tokens about to be inserted, those whose serial is in radotp already, and whether the token there
   * holds the same seed (by the fingerprints of migration 0012): `unknown` where they cannot be compared (a
   * token stored without one, by an older node, or under another key during a key roll-out).
   */
  async existingSeeds(tokens: readonly NewToken[], db: Db = this.db): Promise<Map<string, 'same' | 'other' | 'unknown'>> {
    const found = new Map<string, 'same' | 'other' | 'unknown'>();
    const bySerial = new Map(tokens.map((t) => [t.serial, t]));
    const serials = [...bySerial.keys()];
    for (let i = 0; i < serials.length; i += 5000) {
      const rows = await db
        .selectFrom('token')
        .innerJoin('token_seed', 'token_seed.token_id', 'token.id')
        .select(['token.serial', 'token_seed.seed_fingerprint'])
        .where('token.serial', 'in', serials.slice(i, i + 5000))
        .execute();
      for (const r of rows) found.set(r.serial, compareFingerprints(r.seed_fingerprint, this.keys.fingerprint(bySerial.get(r.serial)!.seed)));
    }
    return found;
  }

  /**
   * Of these tokens about to be inserted, those whose serial a deleted token had: whether its replay state
   * will be kept (the same seed, or one that cannot be compared) or not applied (a new seed). Asks the
   * function the insert trigger uses (migration 0012), so what an import reports is what the insert does.
   */
  async retiredSerials(tokens: readonly NewToken[], db: Db = this.db): Promise<{ kept: string[]; newSeed: string[] }> {
    const kept: string[] = [];
    const newSeed: string[] = [];
    for (let i = 0; i < tokens.length; i += 5000) {
      const chunk = tokens.slice(i, i + 5000);
      const rows = await sql<{ serial: string; kept: boolean }>`
        SELECT v.serial, (SELECT o_next_counter FROM radotp_retired_replay_state(v.serial, v.fingerprint)) IS NOT NULL AS kept
        FROM unnest(${chunk.map((t) => t.serial)}::text[], ${chunk.map((t) => this.keys.fingerprint(t.seed))}::bytea[]) AS v(serial, fingerprint)
        WHERE EXISTS (SELECT 1 FROM token_retired r WHERE r.serial = v.serial)
        ORDER BY v.serial`.execute(db);
      for (const r of rows.rows) (r.kept ? kept : newSeed).push(r.serial);
    }
    return { kept, newSeed };
  }

  async list(f: TokenFilter = {}): Promise<TokenInfo[]> {
    let q = this.base().orderBy('token.serial');
    if (f.username) q = q.where('app_user.username', '=', f.username);
    if (f.state) q = q.where('token.state', '=', f.state);
    if (f.unassigned) q = q.where('token.user_id', 'is', null);
    if (f.locked) q = q.where('token.locked_until', '>', sql<Date>`now()`);
    return (await q.execute()).map(toInfo);
  }

  /**
   * Tokens that may authenticate this user now: active, assigned to them, inside their validity
   * period. Locked ones are included (the method reports "locked" rather than "bad code").
   */
  async usableForUser(userId: bigint): Promise<LoginToken[]> {
    const rows = await this.withSeed()
      .where('token.user_id', '=', userId)
      .where('token.state', '=', 'active')
      .where(withinValidity)
      .orderBy('token.id')
      .execute();
    return rows.map((r) => toLoginToken(r, this.openSeed(r)));
  }

  /**
   * The code lengths of the tokens that can log in (active, assigned; OCRA answers a challenge instead):
   * what a field typed in the append style may end in, anywhere in the deployment.
   */
  async codeLengthsInUse(db: Db = this.db): Promise<number[]> {
    // One index probe per length, smallest first, on the partial index of migration 0017 (its WHERE is this
    // one's, word for word, so the planner can use it). A plain DISTINCT read every active token: this runs
    // on an append-style login of a user without a token, a name anyone can send.
    const { rows } = await sql<{ digits: number }>`
      WITH RECURSIVE lengths AS (
        (SELECT digits FROM token WHERE state = 'active' AND user_id IS NOT NULL AND kind <> 'ocra' ORDER BY digits LIMIT 1)
        UNION ALL
        SELECT (SELECT t.digits FROM token t WHERE t.state = 'active' AND t.user_id IS NOT NULL AND t.kind <> 'ocra' AND t.digits > l.digits
                ORDER BY t.digits LIMIT 1)
        FROM lengths l WHERE l.digits IS NOT NULL)
      SELECT digits FROM lengths WHERE digits IS NOT NULL`.execute(db);
    return rows.map((r) => r.digits);
  }

  /** Whether the user holds a disabled token (lost, stolen...): such a user must not fall back to the password alone. */
  async hasDisabledToken(userId: bigint): Promise<boolean> {
    const r = await this.db.selectFrom('token').select('id').where('user_id', '=', userId).where('state', '=', 'disabled').limit(1).executeTakeFirst();
    return r !== undefined;
  }

  /**
   * RFC 6238 §5.2 / RFC 4226 §7.2 replay protection, atomically: the token advances only if the
   * matched step is beyond the last accepted one, in one guarded UPDATE (logins go through the
   * SpendBatcher, one statement for every login of an event-loop turn; activation updates the row
   * alone, as it also changes the state). Two nodes receiving the same code at the same instant race
   * on the row lock; exactly one sees its row updated.
   * The token must still belong to `token.userId`, the user it was read for (a cache may hold it under the user it
   * was unassigned from).
   * Returns false when another request got there first (a replay), or the token stopped being usable or theirs.
   */
  acceptStep(token: SpentToken, step: number, drift: number, opts: SpendOptions = {}): Promise<boolean> {
    // Not async: an async function returning the batcher's promise would add turns to every login.
    if (opts.inPool) return this.spendInPoolAtStep(token.id, step, drift);
    return opts.activate ? this.activateAtStep(token, step, drift) : this.spends.spendStep(token.id, token.userId, step, drift, opts.spentBy ?? null, opts.tokenLogin);
  }

  /** HOTP/OCRA counterpart of acceptStep: `counter` was used; the next acceptable one is counter+1. */
  acceptCounter(token: SpentToken, counter: bigint, opts: SpendOptions = {}): Promise<boolean> {
    if (opts.inPool) return this.spendInPoolAtCounter(token.id, counter);
    return opts.activate ? this.activateAtCounter(token, counter) : this.spends.spendCounter(token.id, token.userId, counter, opts.spentBy ?? null, opts.tokenLogin);
  }

  /**
   * Whether the token could still be spent for `token.userId`: what an OCRA response whose suite has no counter
   * checks in place of a spend (it has no replay state to advance: its challenge, single-use, was taken already).
   * The same conditions as the spend's guard (SpendBatcher): the user's, active, no lock in force, within validity,
   * and with `tokenLogin` the user still logs in with a token. Checking the
   * owner alone, a token disabled (lost, stolen) or locked while a node's cache still held it active and open
   * went on logging its user in on that node until the change's notification arrived.
   */
  async isStillSpendable(token: SpentToken, opts: Pick<SpendOptions, 'tokenLogin'> = {}): Promise<boolean> {
    if (token.userId === null) return false;
    let q = this.db
      .selectFrom('token')
      .select('id')
      .where('id', '=', token.id)
      .where('user_id', '=', token.userId)
      .where('state', '=', 'active')
      .where(lockExpired)
      .where(withinValidity);
    if (opts.tokenLogin) q = q.where(({ exists, selectFrom }) => exists(selectFrom('app_user').select('app_user.id').whereRef('app_user.id', '=', 'token.user_id').where('app_user.method', '=', 'token')));
    return (await q.executeTakeFirst()) !== undefined;
  }

  /**
   * What the last spend of a token left: the step/counter, the fingerprint of the request that made it, and
   * whether it was made within `windowSeconds` (by the database's clock, the one clock of every node); and what
   * else a spend's guard checks (user and their method, state, lock). Read only when a spend lost or a code was found
   * spent already, to tell a retransmission from a replay, and both from a token (or its user) changed since it was read.
   */
  async lastSpend(id: bigint, windowSeconds: number): Promise<LastSpend | undefined> {
    const r = await this.db
      .selectFrom('token')
      .select(['user_id', 'last_step', 'next_counter', 'last_spent_by', 'state'])
      .select(sql<boolean>`coalesce(last_used_at > now() - make_interval(secs => ${windowSeconds}), false)`.as('recent'))
      .select(sql<Date | null>`CASE WHEN locked_until > now() THEN locked_until END`.as('locked_until'))
      .select(sql<string | null>`(SELECT method FROM app_user WHERE app_user.id = token.user_id)`.as('owner_method'))
      .select((eb) => withinValidity(eb).$castTo<boolean>().as('valid'))
      .where('id', '=', id)
      .executeTakeFirst();
    return (
      r && {
        userId: r.user_id,
        lastStep: r.last_step,
        nextCounter: r.next_counter,
        spentBy: r.last_spent_by,
        recent: r.recent,
        state: r.state,
        lockedUntil: r.locked_until,
        ownerMethod: r.owner_method,
        valid: r.valid,
      }
    );
  }

  /**
   * A pending token's first code: spent like a login's, and the token becomes active in the same UPDATE. Its
   * user is guarded as a login's is (a pending token is an app enrolled for one user, which no command hands
   * to another; the guard keeps it so should one ever).
   */
  private async activateAtStep(token: SpentToken, step: number, drift: number): Promise<boolean> {
    const r = await this.db
      .updateTable('token')
      .set({ last_step: step, drift, ...ACTIVATED })
      .where('id', '=', token.id)
      .where((eb) => ownedBy(eb, token.userId))
      .where('last_step', '<', BigInt(step))
      .where('state', '=', 'pending')
      .where(lockExpired)
      .executeTakeFirst();
    return r.numUpdatedRows === 1n;
  }

  private async activateAtCounter(token: SpentToken, counter: bigint): Promise<boolean> {
    const r = await this.db
      .updateTable('token')
      .set({ next_counter: counter + 1n, ...ACTIVATED })
      .where('id', '=', token.id)
      .where((eb) => ownedBy(eb, token.userId))
      .where('next_counter', '<=', counter)
      .where('state', '=', 'pending')
      .where(lockExpired)
      .executeTakeFirst();
    return r.numUpdatedRows === 1n;
  }

  /**
   * `token verify` of a token in the pool (an admin checking a fob before handing it out): the code is spent as a
   * login's would be (RFC 4226 §7.2, RFC 6238 §5.2: accepted once), so it stays refused once the token is handed
   * out; the state stays `unassigned` and the user none, so no login can use the token. The login spends
   * (SpendBatcher) take active tokens only; this guard takes pool tokens only.
   */
  private async spendInPoolAtStep(id: bigint, step: number, drift: number): Promise<boolean> {
    const r = await this.inPool(id)
      .set({ last_step: step, drift, fail_count: 0, last_used_at: sql<Date>`now()` })
      .where('last_step', '<', BigInt(step))
      .executeTakeFirst();
    return r.numUpdatedRows === 1n;
  }

  private async spendInPoolAtCounter(id: bigint, counter: bigint): Promise<boolean> {
    const r = await this.inPool(id)
      .set({ next_counter: counter + 1n, fail_count: 0, last_used_at: sql<Date>`now()` })
      .where('next_counter', '<=', counter)
      .executeTakeFirst();
    return r.numUpdatedRows === 1n;
  }

  private inPool(id: bigint) {
    return this.db.updateTable('token').where('id', '=', id).where('state', '=', 'unassigned').where('user_id', 'is', null).where(lockExpired);
  }

  /**
   * Counts a wrong code against each token. The same wrong code repeated within a minute counts once
   * (a user retyping, a NAS retrying after a timeout). Reaching maxFailures locks the token until
   * now + lockSeconds; an expired lock starts the count afresh. `digests` are the wrong code's keyed
   * digests under every key this node holds (KeyRing.digests): the first is stored, any of them matches
   * (another node may still digest with the other key during a key roll-out).
   */
  async recordFailure(ids: readonly bigint[], digests: readonly Buffer[], maxFailures: number, lockSeconds: number): Promise<void> {
    if (ids.length === 0) return;
    const digest = digests[0]!;
    await sql`
      UPDATE token SET
        fail_count = n.count,
        locked_until = CASE WHEN n.count >= ${maxFailures} THEN coalesce(n.still_locked, now() + make_interval(secs => ${lockSeconds})) ELSE NULL END,
        last_fail_digest = ${digest},
        last_fail_at = now()
      FROM (
        SELECT id,
          CASE WHEN locked_until IS NOT NULL AND locked_until <= now() THEN 1
               WHEN last_fail_digest = ANY(${[...digests]}::bytea[]) AND last_fail_at > now() - interval '60 seconds' THEN fail_count
               ELSE fail_count + 1 END AS count,
          CASE WHEN locked_until > now() THEN locked_until END AS still_locked
        FROM token WHERE id = ANY(${ids.map(String)}::bigint[]) FOR UPDATE
      ) n
      WHERE token.id = n.id`.execute(this.db);
  }

  async setResync(serial: string, change: { lastStep?: number; drift?: number; nextCounter?: bigint }): Promise<boolean> {
    let q = this.db
      .updateTable('token')
      .set({
        ...(change.lastStep !== undefined ? { last_step: change.lastStep, drift: change.drift ?? 0 } : {}),
        ...(change.nextCounter !== undefined ? { next_counter: change.nextCounter } : {}),
        fail_count: 0,
        locked_until: null,
        updated_at: sql<Date>`now()`,
      })
      .where('serial', '=', serial);
    // never move backwards (LinOTP CVE-2019-12887): guarded again here against a concurrent login
    if (change.lastStep !== undefined) q = q.where('last_step', '<', BigInt(change.lastStep));
    if (change.nextCounter !== undefined) q = q.where('next_counter', '<', change.nextCounter);
    const r = await q.executeTakeFirst();
    return r.numUpdatedRows === 1n;
  }

  async update(
    serial: string,
    set: Partial<{
      user_id: bigint | null;
      state: TokenState;
      description: string | null;
      disabled_reason: DisabledReason | null;
      disabled_note: string | null;
      fail_count: number;
      locked_until: Date | null;
    }>,
    where: { state?: TokenState[]; userId?: bigint | null; disabledReason?: DisabledReason | null } = {},
  ): Promise<boolean> {
    let q = this.db
      .updateTable('token')
      .set({ ...set, updated_at: sql<Date>`now()` })
      .where('serial', '=', serial);
    // An admin change decided on a row read earlier applies only to the row as it was read: another admin
    // (or node) may have changed it since. PostgreSQL re-checks these conditions on the latest row version
    // once the other's row lock is gone (READ COMMITTED), so of two such changes the second finds nothing.
    if (where.state) q = q.where('state', 'in', where.state);
    if (where.userId !== undefined) q = where.userId === null ? q.where('user_id', 'is', null) : q.where('user_id', '=', where.userId);
    if (where.disabledReason !== undefined) {
      q = where.disabledReason === null ? q.where('disabled_reason', 'is', null) : q.where('disabled_reason', '=', where.disabledReason);
    }
    const r = await q.executeTakeFirst();
    return r.numUpdatedRows === 1n;
  }

  async delete(serial: string): Promise<void> {
    const r = await this.db.deleteFrom('token').where('serial', '=', serial).executeTakeFirst();
    if (r.numDeletedRows === 0n) throw new NotFoundError(`no token with serial "${serial}"`);
  }

  async deleteExpiredPending(): Promise<number> {
    const r = await expiredPendingDeletion(this.db).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}

/**
 * The sealed seed read with a token's row (token_seed, migration 0018). Every token row gets one from 0018's trigger
 * in the statement that inserts it; a token row without one had it deleted by hand, and its logins fail as a seed
 * that cannot be opened does (KeyError: that user's login alone, see AuthCache), naming the token.
 */
export function sealedSeedOf(r: { serial?: string; token_seed_sealed?: Buffer | null }): Buffer {
  if (!r.token_seed_sealed) throw new KeyError(`token ${r.serial} has no sealed seed (no token_seed row)`);
  return r.token_seed_sealed;
}

/**
 * Fingerprints (KeyRing.fingerprint) start with the id of the key they were made under, followed by a 32-byte
 * HMAC: made under different keys, they say nothing about the seeds.
 */
function compareFingerprints(stored: Buffer | null, fresh: Buffer): 'same' | 'other' | 'unknown' {
  if (stored === null || stored.length !== fresh.length) return 'unknown';
  const idLength = fresh.length - 32;
  if (!stored.subarray(0, idLength).equals(fresh.subarray(0, idLength))) return 'unknown';
  return stored.equals(fresh) ? 'same' : 'other';
}

/**
 * The once-a-minute purge of pending tokens past their expiry. Its WHERE matches the partial index of
 * migration 0006 (`state = 'pending'`), so it reads the few pending tokens, not the whole token pool.
 * Exported so the plan test checks this very statement.
 */
export function expiredPendingDeletion(db: Db) {
  return db.deleteFrom('token').where('state', '=', 'pending').where('pending_expires_at', '<', sql<Date>`now()`);
}
