import { evictOldest } from '../collections/evict-oldest';
import type { Awaitable } from '../lang/awaitable';
import { KeyError } from '../secrets/keyring';
import type { ChangeEvent } from './change-listener';
import { UserRemovedError } from './errors';
import type { LoginData } from './login-data';
import { LookupBatcher } from './lookup-batcher';
import type { LoginToken } from './tokens';
import type { LoginUser } from './users';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function withinValidity(t: LoginToken, now: number): boolean {
  return (t.validTo === null || t.validTo.getTime() > now) && (t.validFrom === null || t.validFrom.getTime() <= now);
}

/** Everything a login reads about one user, kept together so a login finds it with one lookup. */
interface Entry {
  /** null: known not to exist (so a flood of unknown names does not become a flood of queries). */
  readonly user: LoginUser | null;
  /** Active tokens with opened seeds; undefined until read. */
  tokens: LoginToken[] | undefined;
  readonly expires: number;
}

export interface AuthSources {
  /** Users and their usable tokens, many at once (see loadLoginData). */
  loadLoginData(usernames: string[]): Promise<Map<string, LoginData>>;
  usableForUser(userId: bigint): Promise<LoginToken[]>;
  hasDisabledToken(userId: bigint): Promise<boolean>;
}

/**
 * Keeps users and their usable tokens (seeds opened) in memory so that a login with a correct code
 * costs one database statement — the atomic spend. Entries are dropped on change notifications from
 * any node or CLI (ChangeListener), after a long TTL as a safety net, and entirely whenever the
 * notifications are not live. Replay state read from here may be stale; it is only a hint: the
 * guarded UPDATE decides, and a miss is re-checked against fresh rows (see TokenVerifier).
 */
export class AuthCache {
  /** Lookups of a user served from memory, and those that had to read the database. */
  readonly stats = { hits: 0, misses: 0 };
  /** Users, by username, oldest first (Map keeps insertion order), so the first entry is the one to evict. */
  private readonly entries = new Map<string, Entry>();
  /**
   * Names known not to exist (user null), with a bound of their own. In one map with the users, a password
   * spray of made-up names through a NAS (anyone can type any name at a VPN gateway) evicted every real user,
   * and each of their logins then read the database again while the spray went on.
   */
  private readonly unknown = new Map<string, Entry>();
  /** The same entries by user id, for the `tokens:<id>` notifications. */
  private readonly byId = new Map<bigint, string>();
  /**
   * The entry findUser found last. A login asks for its user's tokens right after finding the user
   * (each datagram's work runs up to its first real wait before the next datagram is read), so this
   * spares usableForUser a second lookup in a map of every user; anything else falls back to the map.
   */
  private lastFound: Entry | undefined;
  /** Bumped by every invalidation, so a read that raced a change is not stored. */
  private generation = 0;
  private readonly lookups: LookupBatcher<string, LoginData>;
  private readonly maxEntries: number;
  private readonly maxUnknownEntries: number;
  private readonly ttlMs: number;

  /**
   * Entries live until a change notification drops them; the TTL (default one hour) is only a safety
   * net. While the notifications are not live, nothing is read from or kept in the cache.
   */
  constructor(
    private readonly source: AuthSources,
    private readonly isLive: () => boolean,
    /** maxUnknownEntries: names known not to exist, kept apart (default an eighth of maxEntries). */
    opts: { maxEntries?: number; maxUnknownEntries?: number; ttlMs?: number } = {},
    private readonly now: () => number = Date.now,
  ) {
    this.maxEntries = opts.maxEntries ?? 200_000;
    this.maxUnknownEntries = opts.maxUnknownEntries ?? Math.max(1, Math.floor(this.maxEntries / 8));
    this.ttlMs = opts.ttlMs ?? 3_600_000;
    // A seed under a key this node lacks (a key roll-out half done) fails that user's login alone (README: Key
    // rotation), not every login read in the same statement.
    this.lookups = new LookupBatcher((names) => source.loadLoginData(names), undefined, (e) => e instanceof KeyError);
  }

  onChange(e: ChangeEvent): void {
    if (e.kind === 'clients') return; // RADIUS clients are none of this cache's business
    this.generation++;
    if (e.kind === 'user') this.drop(e.username);
    else if (e.kind === 'tokens') {
      const username = this.byId.get(e.userId);
      if (username !== undefined) this.drop(username);
    } else {
      this.entries.clear();
      this.unknown.clear();
      this.byId.clear();
      this.lastFound = undefined;
    }
  }

  /**
   * The user (and, into the same entry, their usable tokens): from memory as a plain value, else one
   * batched query for all logins of a turn (see Awaitable).
   */
  findUser(username: string): Awaitable<LoginUser | undefined> {
    const live = this.isLive();
    if (live) {
      const hit = this.entry(username, this.now());
      if (hit !== undefined) {
        this.stats.hits++;
        this.lastFound = hit;
        return hit.user ?? undefined;
      }
    }
    this.stats.misses++;
    return this.readUser(username, live);
  }

  private async readUser(username: string, live: boolean): Promise<LoginUser | undefined> {
    const gen = this.generation;
    const data = await this.lookups.load(username);
    if (live && gen === this.generation) this.store(username, data?.user ?? null, data?.tokens, this.now());
    return data?.user;
  }

  /** The user's usable tokens: from the user's entry (found by name, as findUser just did) as a plain value, else read. */
  usableForUser(user: Pick<LoginUser, 'id' | 'username'>, opts?: { fresh?: boolean }): Awaitable<LoginToken[]> {
    if (!this.isLive()) return opts?.fresh === true ? this.stillTheirs(user, this.source.usableForUser(user.id)) : this.source.usableForUser(user.id);
    const now = this.now();
    const last = this.lastFound;
    const hit = last !== undefined && last.user === user && last.expires > now ? last : this.entry(user.username, now);
    const own = hit !== undefined && hit.user !== null && hit.user.id === user.id ? hit : undefined;
    if (opts?.fresh !== true && own?.tokens !== undefined) {
      const tokens = own.tokens;
      // validity ends while an entry sits here: apply it at use time, as the query would
      for (const t of tokens) if (!withinValidity(t, now)) return tokens.filter((x) => withinValidity(x, now));
      return tokens;
    }
    return opts?.fresh === true ? this.stillTheirs(user, this.readTokens(user, own)) : this.readTokens(user, own);
  }

  /**
   * A fresh read of the user's tokens (a code their cached tokens did not take is decided on it): none left may
   * be the user removed since the login found them, their software tokens deleted and hardware ones back in the
   * pool. The right code was then refused as `bad_code`. That case is told apart here, at one more read, only
   * when no token is left (UserRemovedError: the pipeline refuses the login as an unknown user's).
   */
  private async stillTheirs(user: Pick<LoginUser, 'id' | 'username'>, read: Promise<LoginToken[]>): Promise<LoginToken[]> {
    const tokens = await read;
    if (tokens.length > 0) return tokens;
    const now = await this.lookups.load(user.username);
    if (now?.user.id === user.id) return tokens;
    this.generation++; // a read under way may hold the user as they were
    this.drop(user.username); // the removal's notification may not have come yet
    throw new UserRemovedError();
  }

  private async readTokens(user: Pick<LoginUser, 'id' | 'username'>, own: Entry | undefined): Promise<LoginToken[]> {
    const gen = this.generation;
    const tokens = await this.source.usableForUser(user.id);
    if (gen === this.generation && own !== undefined && this.entries.get(user.username) === own) own.tokens = tokens;
    return tokens;
  }

  /**
   * Forgets what is held of `username`: a login found them changed since (see UserChangedError), before this node
   * heard. The next lookup reads the database.
   */
  forgetUser(username: string): void {
    this.generation++; // a read under way may hold the user as they were
    this.drop(username);
  }

  hasDisabledToken(userId: bigint): Promise<boolean> {
    return this.source.hasDisabledToken(userId);
  }

  /**
   * Loads every user and their tokens page by page (at start, and after the notifications came back),
   * so that a user's first login of the day costs no lookup either. A page read while a change arrived
   * is dropped: those users are loaded on demand instead. Stops when the cache is full.
   */
  async warm(loadPage: (afterUserId: bigint) => Promise<{ data: LoginData[]; lastUserId?: bigint }>): Promise<number> {
    let after = 0n;
    let loaded = 0;
    while (loaded < this.maxEntries && this.isLive()) {
      const gen = this.generation;
      const page = await loadPage(after);
      if (page.lastUserId === undefined) break;
      after = page.lastUserId;
      if (gen !== this.generation || !this.isLive()) continue;
      const now = this.now();
      for (const d of page.data) this.store(d.user.username, d.user, d.tokens, now);
      loaded += page.data.length;
    }
    return loaded;
  }

  /**
   * After a successful spend, keep the token's replay state current (a hint for this node's next login).
   * The token is updated in place: it is this cache's own object, or a freshly read one nobody else
   * holds, and the values only ever move forward.
   */
  noteSpent(token: LoginToken, change: { lastStep?: bigint; drift?: number; nextCounter?: bigint }): void {
    const t = token as Mutable<LoginToken>;
    if (change.lastStep !== undefined && change.lastStep > t.lastStep) {
      t.lastStep = change.lastStep;
      if (change.drift !== undefined) t.drift = change.drift;
    }
    if (change.nextCounter !== undefined && change.nextCounter > t.nextCounter) t.nextCounter = change.nextCounter;
    t.failCount = 0;
  }

  private entry(username: string, now: number): Entry | undefined {
    const e = this.entries.get(username) ?? this.unknown.get(username);
    if (e === undefined || e.expires > now) return e;
    this.drop(username);
    return undefined;
  }

  private store(username: string, user: LoginUser | null, tokens: LoginToken[] | undefined, now: number): void {
    this.drop(username);
    const map = user === null ? this.unknown : this.entries;
    evictOldest(map, user === null ? this.maxUnknownEntries : this.maxEntries, (name, e) => this.forget(name, e));
    map.set(username, { user, tokens, expires: now + this.ttlMs });
    if (user !== null) this.byId.set(user.id, username);
  }

  private drop(username: string): void {
    const e = this.entries.get(username) ?? this.unknown.get(username);
    if (e === undefined) return;
    this.entries.delete(username);
    this.unknown.delete(username);
    this.forget(username, e);
  }

  /** An entry left `entries` (dropped or evicted): nothing else may lead to it any more. */
  private forget(username: string, e: Entry): void {
    if (e === this.lastFound) this.lastFound = undefined;
    if (e.user !== null && this.byId.get(e.user.id) === username) this.byId.delete(e.user.id);
  }
}
