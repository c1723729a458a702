import type { ChangeEvent } from './change-listener';
import type { LoginData } from './login-data';
import { LookupBatcher } from './lookup-batcher';
import type { TokenWithSeed } from './tokens';
import type { UserRecord } from './users';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function withinValidity(t: TokenWithSeed, now: number): boolean {
  return (t.validTo === null || t.validTo.getTime() > now) && (t.validFrom === null || t.validFrom.getTime() <= now);
}

/** A small bounded map with a time-to-live; the oldest entry goes first when full. */
class TtlMap<K, V> {
  private readonly map = new Map<K, { value: V; expires: number }>();
  constructor(
    private readonly max: number,
    private readonly ttlMs: number,
  ) {}
  get(key: K, now: number): V | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (e.expires <= now) {
      this.map.delete(key);
      return undefined;
    }
    return e.value;
  }
  set(key: K, value: V, now: number): void {
    this.map.delete(key);
    if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value as K);
    this.map.set(key, { value, expires: now + this.ttlMs });
  }
  delete(key: K): void {
    this.map.delete(key);
  }
  clear(): void {
    this.map.clear();
  }
}

export interface AuthSources {
  /** Users and their usable tokens, many at once (see loadLoginData). */
  loadLoginData(usernames: string[]): Promise<Map<string, LoginData>>;
  usableForUser(userId: bigint): Promise<TokenWithSeed[]>;
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
  private readonly users: TtlMap<string, UserRecord | null>;
  private readonly tokens: TtlMap<bigint, TokenWithSeed[]>;
  /** Bumped by every invalidation, so a read that raced a change is not stored. */
  private generation = 0;
  private readonly lookups: LookupBatcher<string, LoginData>;

  private readonly maxEntries: number;

  /**
   * Entries live until a change notification drops them; the TTL (default one hour) is only a safety
   * net. While the notifications are not live, nothing is read from or kept in the cache.
   */
  constructor(
    private readonly source: AuthSources,
    private readonly isLive: () => boolean,
    opts: { maxEntries?: number; ttlMs?: number } = {},
    private readonly now: () => number = Date.now,
  ) {
    this.maxEntries = opts.maxEntries ?? 200_000;
    this.users = new TtlMap(this.maxEntries, opts.ttlMs ?? 3_600_000);
    this.tokens = new TtlMap(this.maxEntries, opts.ttlMs ?? 3_600_000);
    this.lookups = new LookupBatcher((names) => source.loadLoginData(names));
  }

  onChange(e: ChangeEvent): void {
    this.generation++;
    if (e.kind === 'user') this.users.delete(e.username);
    else if (e.kind === 'tokens') this.tokens.delete(e.userId);
    else {
      this.users.clear();
      this.tokens.clear();
    }
  }

  /** The user (and, into the token cache, their usable tokens): one batched query for all logins of a turn. */
  async findUser(username: string): Promise<UserRecord | undefined> {
    const live = this.isLive();
    if (live) {
      const hit = this.users.get(username, this.now());
      if (hit !== undefined) return hit ?? undefined;
    }
    const gen = this.generation;
    const data = await this.lookups.load(username);
    if (live && gen === this.generation) {
      this.users.set(username, data?.user ?? null, this.now());
      if (data) this.tokens.set(data.user.id, data.tokens, this.now());
    }
    return data?.user;
  }

  async usableForUser(userId: bigint, opts: { fresh?: boolean } = {}): Promise<TokenWithSeed[]> {
    if (!this.isLive()) return this.source.usableForUser(userId);
    if (!opts.fresh) {
      const now = this.now();
      const hit = this.tokens.get(userId, now);
      // validity ends while an entry sits here: apply it at use time, as the query would
      if (hit) return hit.some((t) => !withinValidity(t, now)) ? hit.filter((t) => withinValidity(t, now)) : hit;
    }
    const gen = this.generation;
    const tokens = await this.source.usableForUser(userId);
    if (gen === this.generation) this.tokens.set(userId, tokens, this.now());
    return tokens;
  }

  hasDisabledToken(userId: bigint): Promise<boolean> {
    return this.source.hasDisabledToken(userId);
  }

  /**
   * Loads every user and their tokens page by page (at start, and after the notifications came back),
   * so that a user's first login of the day costs no lookup either. A page read while a change arrived
   * is dropped: those users are loaded on demand instead. Stops when the cache would be full.
   */
  async warm(loadPage: (afterUserId: bigint) => Promise<{ data: LoginData[]; lastUserId?: bigint }>): Promise<number> {
    let after = 0n;
    let loaded = 0;
    while (loaded < this.maxEntries / 2 && this.isLive()) {
      const gen = this.generation;
      const page = await loadPage(after);
      if (page.lastUserId === undefined) break;
      after = page.lastUserId;
      if (gen !== this.generation || !this.isLive()) continue;
      const now = this.now();
      for (const d of page.data) {
        this.users.set(d.user.username, d.user, now);
        this.tokens.set(d.user.id, d.tokens, now);
      }
      loaded += page.data.length;
    }
    return loaded;
  }

  /** After a successful spend, keep this node's copy of the replay state current (a hint for the next login). */
  noteSpent(userId: bigint, tokenId: bigint, change: { lastStep?: bigint; drift?: number; nextCounter?: bigint }): void {
    // in place: the entry's token objects are this cache's own, and the values only ever move forward
    const token = this.tokens.get(userId, this.now())?.find((t) => t.id === tokenId) as Mutable<TokenWithSeed> | undefined;
    if (!token) return;
    if (change.lastStep !== undefined) token.lastStep = change.lastStep;
    if (change.drift !== undefined) token.drift = change.drift;
    if (change.nextCounter !== undefined) token.nextCounter = change.nextCounter;
    token.failCount = 0;
  }
}
