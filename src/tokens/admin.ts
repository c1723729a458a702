import crypto from 'node:crypto';
import { base32Encode, buildKeyUri, randomSecret, resyncHotp, resyncTotp, totpParamsOf, type HashAlgorithm } from '../otp';
import { outcomeOf } from '../auth/methods/token';
import { isLocked, type CodeCheck, type TokenVerifier } from '../auth/token-verifier';
import type { AdminAuditWriter } from '../store/audit';
import type { Awaitable } from '../lang/awaitable';
import { isForeignKeyViolation, NotFoundError, StoreConflictError } from '../store/errors';
import type { Store } from '../store/open';
import { MAX_NEXT_COUNTER, type DisabledReason, type TokenState } from '../store/schema';
import type { TokenInfo } from '../store/tokens';

/** An admin request the token's state does not allow; one clear line for the CLI. */
export class TokenStateError extends Error {
  override name = 'TokenStateError';
}

export interface EnrollRequest {
  username: string;
  type: 'totp' | 'hotp';
  algorithm: HashAlgorithm;
  digits: 6 | 8;
  period: 30 | 60;
  issuer: string;
  description?: string;
  /**
   * Makes what the admin will be shown (a QR code) before the token is stored: if it cannot be made, the
   * enrollment fails with nothing stored, instead of leaving a pending token whose secret nobody saw.
   */
  present?: (otpauthUri: string) => Promise<void>;
}

export interface Enrollment {
  token: TokenInfo;
  /** Shown once, at enrollment; never stored in clear or printed again. */
  otpauthUri: string;
  secretBase32: string;
  /** Set when the user's method asks for no code (as `assign`'s): the token would never be asked for. */
  warning?: string;
}

/** Serials of enrolled software tokens: the type and 10 random base32 characters, e.g. TOTP-7K2M9QXAB4. */
function newSerial(type: string): string {
  return `${type.toUpperCase()}-${base32Encode(crypto.randomBytes(7)).slice(0, 10)}`;
}

/**
 * Runs `fn` in one transaction with an audit writer writing in it (the CLI's withAdminChange), for a change made
 * outside a transaction of the caller's: its row must commit with it or not at all.
 */
export type AdminTransaction = <T>(fn: (tx: AdminTransactionScope, audit: AdminAuditWriter) => Promise<T>) => Promise<T>;

/** What a change in an AdminTransaction writes through: the transaction's tokens, and a code verifier on them. */
export interface AdminTransactionScope {
  readonly tokens: Pick<Store['tokens'], 'create'>;
  readonly verifier: Pick<TokenVerifier, 'check'>;
}

type AdminAction = 'enroll' | 'assign' | 'unassign' | 'disable' | 'enable' | 'describe' | 'unlock' | 'delete' | 'resync';

/** Token lifecycle operations shared by the CLI (and later an API): the rules live here, SQL in the store. */
export class TokenAdmin {
  constructor(
    private readonly store: Pick<Store, 'tokens' | 'users'>,
    private readonly verifier: Pick<TokenVerifier, 'check'>,
    private readonly settings: {
      pendingTokenTtl: number;
      resyncWindowHotp?: number;
      resyncWindowSeconds?: number;
      audit?: AdminAuditWriter;
      /**
       * For enroll, activate and verify, whose store is no transaction of the caller's (enroll draws another serial
       * after a conflict; a wrong code's failure must stay counted although the command then fails).
       */
      transaction?: AdminTransaction;
    },
    private readonly clock: () => number = () => Date.now() / 1000,
  ) {}

  async enroll(r: EnrollRequest): Promise<Enrollment> {
    const user = await this.store.users.get(r.username);
    const secret = randomSecret(r.algorithm);
    // Before the token is stored: an issuer or name the key URI cannot carry must leave nothing behind
    // (a pending token whose secret nobody was shown).
    const otpauthUri = buildKeyUri({
      type: r.type,
      issuer: r.issuer,
      account: r.username,
      secret,
      algorithm: r.algorithm,
      digits: r.digits,
      period: r.type === 'totp' ? r.period : undefined,
      counter: r.type === 'hotp' ? 0n : undefined,
    });
    await r.present?.(otpauthUri);
    for (let attempt = 0; ; attempt++) {
      try {
        // Each attempt a transaction of its own with its row: a serial conflict aborts it, and the next one draws
        // another serial; a row that cannot be written leaves no token the trail never mentions.
        const token = await this.inTransaction(async ({ tokens }, audit) => {
          const token = await tokens.create({
            serial: newSerial(r.type),
            userId: user.id,
            origin: 'software',
            kind: r.type,
            state: 'pending',
            algorithm: r.algorithm,
            digits: r.digits,
            period: r.period,
            seed: secret,
            description: r.description ?? null,
            issuer: r.issuer,
            pendingExpiresAt: new Date((this.clock() + this.settings.pendingTokenTtl) * 1000),
          });
          await audit?.(changeEvent('enroll', token, 'enrolled'));
          return token;
        });
        return { token, otpauthUri, secretBase32: base32Encode(secret), warning: noCodeAsked(r.username, user.method) };
      } catch (e) {
        if (e instanceof StoreConflictError && attempt < 3) continue; // a serial collision: draw another
        throw userRemovedMeanwhile(e, r.username);
      }
    }
  }

  /** A pending token becomes active only with a code valid now, proving the app really holds the seed. */
  async activate(serial: string, code: string): Promise<TokenInfo> {
    const token = await this.store.tokens.getWithSeed(serial);
    if (token.state !== 'pending') throw new TokenStateError(`token ${serial} is ${token.state}, not pending`);
    if (token.pendingExpiresAt && token.pendingExpiresAt.getTime() <= this.clock() * 1000) {
      throw new TokenStateError(`token ${serial} expired before activation; enroll a new one`);
    }
    const check = await this.decided('token activate', token, (verifier) => verifier.check([token], code, { activate: true }));
    if (check.result === 'locked') throw new TokenStateError(`token ${serial} is locked after too many wrong codes; run \`radotp token unlock ${serial}\` first`);
    if (check.result === 'owner_changed') throw await this.changedHands(serial, 'not activated');
    if (check.result === 'replay' || check.result === 'token_disabled' || check.result === 'token_deleted') {
      // The code matched, but the guarded UPDATE found the token no longer pending: another `token activate`
      // (another admin, the same code) got there first, or it was disabled or deleted meanwhile. Say which,
      // rather than "does not match ... stays pending" about a token that is now active.
      const now = await this.store.tokens.get(serial);
      if (now.state === 'active') throw new TokenStateError(`token ${serial} was activated meanwhile (by another admin); it is active`);
      if (now.state !== 'pending') throw new TokenStateError(`token ${serial} is ${now.state} now (changed meanwhile); not activated`);
    }
    if (check.result !== 'accept') throw new TokenStateError(`code does not match token ${serial}; it stays pending`);
    return this.store.tokens.get(serial);
  }

  /**
   * Admin check of a code; a verified code counts as used, a wrong one toward the lockout, like a login.
   * An active token, and a token in the pool: an admin checks a fob out of the box (a dead battery, a wrong seed
   * in the vendor's file) before handing it out. The pool token's code is spent there (it stays refused once the
   * token is handed out) and the token stays in the pool, usable by no login. A pending token proves its seed
   * with `token activate`; a disabled one checks no code, as at a login.
   */
  async verify(serial: string, code: string): Promise<{ ok: boolean; result: string; lockedUntil?: Date }> {
    const token = await this.store.tokens.getWithSeed(serial);
    refuseVerify(token);
    const state = token.state;
    const inPool = state === 'unassigned';
    // A spend that loses (the token was locked, or the code spent, by a login a moment ago) is decided again
    // on the row as it is now, so the admin (and the audit trail) hear `locked` or `replay`, whichever it was.
    const check = await this.decided('token verify', token, (verifier) =>
      verifier.check([token], code, { inPool, reload: async () => [await this.store.tokens.getWithSeed(serial)].filter((t) => t.state === state) }),
    );
    // Read for one user, the token was unassigned (or handed to another) before the spend: the spend's guard refused
    // it (see SpendBatcher), and the audit row says so under the user it was read with. Before, the code was spent
    // and verified, for the new owner's token, in the trail under the old one.
    if (check.result === 'owner_changed') throw await this.changedHands(serial, 'not verified');
    // until when, for the admin to say (the token as the check found it: a lock a login set meanwhile too)
    const lockedUntil = check.result === 'locked' ? (check.token?.lockedUntil ?? undefined) : undefined;
    return { ok: check.result === 'accept', result: check.result, ...(lockedUntil ? { lockedUntil } : {}) };
  }

  /** A code check found the token in another user's hands (or nobody's) than when it was read: say whose it is now. */
  private async changedHands(serial: string, what: string): Promise<TokenStateError> {
    const now = await this.store.tokens.find(serial);
    const whose = !now ? 'deleted' : now.username ? `${now.username}'s` : 'unassigned';
    return new TokenStateError(`token ${serial} changed hands meanwhile (it is ${whose} now); ${what}`);
  }

  /**
   * A code checked by an admin is a decision like a login's (it spends the code, or counts a failure): audited too,
   * in one transaction with what it wrote when the caller gave one (see AdminTransaction). The transaction commits
   * whatever the decision: the command fails after it, a wrong code staying counted.
   */
  private decided(method: 'token activate' | 'token verify', token: TokenInfo, decide: (verifier: Pick<TokenVerifier, 'check'>) => Awaitable<CodeCheck>): Promise<CodeCheck> {
    return this.inTransaction(async ({ verifier }, audit) => {
      const check = await decide(verifier);
      const outcome = outcomeOf(check); // the result and reason a login with this code would be audited with
      await audit?.({ username: token.username ?? undefined, tokenSerial: token.serial, method, result: outcome.kind, reason: outcome.reason });
      return check;
    });
  }

  /**
   * An admin's change to a token is audited too (result `admin`, the reason says what was done), under
   * the user the token belongs to, or belonged to until this change. Returns the token as it is now.
   */
  private async changed(action: AdminAction, token: TokenInfo, reason: string, opts: ChangeOptions = {}): Promise<TokenInfo> {
    await this.settings.audit?.(changeEvent(action, token, reason, opts));
    return token;
  }

  /**
   * `fn` with the tokens, verifier and audit writer of one transaction when the caller gave one (see
   * AdminTransaction); else with this admin's own.
   */
  private inTransaction<T>(fn: (scope: AdminTransactionScope, audit: AdminAuditWriter | undefined) => Promise<T>): Promise<T> {
    const transaction = this.settings.transaction;
    return transaction ? transaction(fn) : fn({ tokens: this.store.tokens, verifier: this.verifier }, this.settings.audit);
  }

  async assign(serial: string, username: string): Promise<ChangedToken> {
    const token = await this.store.tokens.get(serial);
    const user = await this.store.users.get(username);
    if (token.state === 'disabled') throw new TokenStateError(`token ${serial} is disabled (${token.disabledReason}); enable it first`);
    // An app's seed was shown to its user alone: "unassign it first" led to `token unassign`, which refuses it.
    if (token.origin === 'software' && token.username) {
      if (token.username === username) throw new TokenStateError(`token ${serial} is already assigned to ${username}`);
      throw new TokenStateError(`token ${serial} is ${token.username}'s software token (an authenticator app): it cannot be handed to another user; enroll one for them`);
    }
    if (token.username) throw new TokenStateError(`token ${serial} is already assigned to ${token.username}; unassign it first`);
    // A login never uses a token past the end of its validity (the PSKC file's ExpiryDate, see
    // TokenRepository.usableForUser): handed out, it would refuse every code of its new user. By the
    // database's clock, as the servers decide it.
    const expiredOn = validityEnded(token, this.clock());
    if (expiredOn) throw new TokenStateError(`token ${serial} expired on ${expiredOn.toISOString()} (the end of its validity): it would never log ${username} in`);
    let assigned: boolean;
    try {
      assigned = await this.store.tokens.update(serial, { user_id: user.id, state: 'active' }, { state: ['unassigned'] });
    } catch (e) {
      throw userRemovedMeanwhile(e, username);
    }
    if (!assigned) throw changedMeanwhile(serial);
    const now = await this.changed('assign', await this.store.tokens.get(serial), 'assigned');
    return { ...now, warning: warnings(noCodeAsked(username, user.method), lockedFor(now, username, this.clock())) };
  }

  /** Back to the pool; the replay state (last step / counter) is kept so old codes stay spent. */
  async unassign(serial: string): Promise<TokenInfo> {
    const token = await this.store.tokens.get(serial);
    if (!token.username) throw new TokenStateError(`token ${serial} is not assigned`);
    if (token.origin === 'software') throw new TokenStateError(`token ${serial} is a software token; delete it instead`);
    const state: TokenState = token.state === 'disabled' ? 'disabled' : 'unassigned';
    // Only the row as read: a `token disable` committed meanwhile must not be undone (a stolen token back
    // in the pool as assignable), nor a token unassigned twice.
    if (!(await this.store.tokens.update(serial, { user_id: null, state }, { state: [token.state], userId: token.userId }))) throw changedMeanwhile(serial);
    return this.changed('unassign', await this.store.tokens.get(serial), 'unassigned', { username: token.username });
  }

  /**
   * Stops a token. Disabling a disabled token again with another reason changes its reason and note (lost, then
   * known stolen): the only way there was `token enable` first, the token usable by logins meanwhile. The same
   * reason again is refused, as before: two admins racing must not both be told they disabled it.
   */
  async disable(serial: string, reason: DisabledReason, note?: string): Promise<TokenInfo & { readonly reasonBefore?: DisabledReason }> {
    const token = await this.store.tokens.get(serial);
    if (token.state === 'disabled' && token.disabledReason !== reason && token.disabledReason !== null) return this.redisable(token, reason, note);
    if (token.state === 'disabled') throw new TokenStateError(`token ${serial} is already disabled (${token.disabledReason})`);
    // Whatever else changed meanwhile (an unassign), the token is disabled; but a second `token disable`
    // racing this one must not overwrite the first one's reason while both admins are told "disabled".
    if (!(await this.store.tokens.update(serial, { state: 'disabled', disabled_reason: reason, disabled_note: note ?? null }, { state: ['pending', 'active', 'unassigned'] }))) {
      const now = await this.store.tokens.get(serial);
      throw new TokenStateError(`token ${serial} is already disabled (${now.disabledReason})`);
    }
    return this.changed('disable', await this.store.tokens.get(serial), 'disabled', { detail: { disabledReason: reason } });
  }

  /** A disabled token's reason changed (see disable), from the reason as read: one changed meanwhile is not overwritten. */
  private async redisable(token: TokenInfo, reason: DisabledReason, note: string | undefined): Promise<TokenInfo & { readonly reasonBefore: DisabledReason }> {
    const before = token.disabledReason!;
    const set = { disabled_reason: reason, disabled_note: note ?? null };
    if (!(await this.store.tokens.update(token.serial, set, { state: ['disabled'], disabledReason: before }))) throw changedMeanwhile(token.serial);
    const now = await this.changed('disable', await this.store.tokens.get(token.serial), 'disabled', { detail: { disabledReason: reason, disabledReasonBefore: before } });
    return { ...now, reasonBefore: before };
  }

  async enable(serial: string): Promise<ChangedToken> {
    const token = await this.store.tokens.get(serial);
    if (token.state !== 'disabled') throw new TokenStateError(`token ${serial} is not disabled`);
    const state: TokenState = !token.username ? 'unassigned' : token.pendingExpiresAt ? 'pending' : 'active';
    // The state to go back to follows from the user as read: an unassign committed meanwhile would
    // otherwise leave an active token that belongs to nobody (and that `token assign` then refuses).
    if (!(await this.store.tokens.update(serial, { state, disabled_reason: null, disabled_note: null }, { state: ['disabled'], userId: token.userId }))) throw changedMeanwhile(serial);
    const now = await this.changed('enable', await this.store.tokens.get(serial), 'enabled');
    return { ...now, warning: warnings(stolenOut(token), expiredUnused(now, this.clock())) };
  }

  /** An empty text clears the description (null, as a token never described): `token show` printed an empty field. */
  async describe(serial: string, text: string): Promise<TokenInfo> {
    if (!(await this.store.tokens.update(serial, { description: text === '' ? null : text }))) throw new NotFoundError(`no token with serial "${serial}"`);
    return this.changed('describe', await this.store.tokens.get(serial), 'described');
  }

  async unlock(serial: string): Promise<TokenInfo> {
    if (!(await this.store.tokens.update(serial, { fail_count: 0, locked_until: null }))) throw new NotFoundError(`no token with serial "${serial}"`);
    return this.changed('unlock', await this.store.tokens.get(serial), 'unlocked');
  }

  /** Deletes a token (its user stays); audited under the user it belonged to. */
  async delete(serial: string): Promise<void> {
    const token = await this.store.tokens.get(serial);
    await this.store.tokens.delete(serial);
    await this.changed('delete', token, 'deleted');
  }

  /**
   * Two consecutive codes found within a wide window (HOTP: the next 1000 events; TOTP: ±24 h) reset
   * the counter or the drift — never to a point at or before the last accepted one
   * (LinOTP CVE-2019-12887: resync must not reopen spent codes).
   */
  async resync(serial: string, code1: string, code2: string): Promise<TokenInfo> {
    const t = await this.store.tokens.getWithSeed(serial);
    if (t.state === 'disabled') throw new TokenStateError(`token ${serial} is disabled`);
    // Its first code proves the app holds the seed (activate); a resync moved the counter past the codes the
    // app shows first, so the user's activation with the code read off the app then failed as "does not match".
    if (t.state === 'pending') {
      throw new TokenStateError(`token ${serial} is pending: activate it with a code the app shows now (radotp token activate ${serial} CODE); resync is for tokens in use`);
    }
    let ok = false;
    if (t.kind === 'hotp') {
      const m = resyncHotp(t.seed, code1, code2, { algorithm: t.algorithm, digits: t.digits }, { nextCounter: t.nextCounter, window: this.settings.resyncWindowHotp ?? 1000 });
      // past the last counter a token row holds (MAX_NEXT_COUNTER): used up, as for a login
      ok = !!m && m.counter < MAX_NEXT_COUNTER && (await this.store.tokens.setResync(serial, { nextCounter: m.counter + 1n }));
    } else if (t.kind === 'totp') {
      const window = Math.ceil((this.settings.resyncWindowSeconds ?? 86400) / t.period);
      const m = resyncTotp(
        t.seed,
        code1,
        code2,
        totpParamsOf(t),
        { now: this.clock(), window, afterStep: Number(t.lastStep) },
      );
      ok = !!m && (await this.store.tokens.setResync(serial, { lastStep: m.step, drift: m.drift }));
      if (!ok) throw new TokenStateError(notResyncedTotp(serial, t, this.clock()));
    } else {
      throw new TokenStateError(`token ${serial} is an OCRA token; challenge-response tokens need no resync`);
    }
    if (!ok) throw new TokenStateError(`codes are not two consecutive codes of token ${serial} within the resync window (or were already used)`);
    // From where to where: what a reviewer of the trail needs to tell a fix from a rewind (CVE-2019-12887).
    const now = await this.store.tokens.get(serial);
    // Counters go up to 2^63: as text, since JSON numbers are exact only to 2^53.
    const detail =
      t.kind === 'totp'
        ? { driftSecondsBefore: t.drift * t.period, driftSeconds: now.drift * now.period }
        : { nextCounterBefore: String(t.nextCounter), nextCounter: String(now.nextCounter) };
    return this.changed('resync', now, 'resynced', { detail });
  }
}

/** Why `token verify` takes no code of this token (see TokenAdmin.verify); nothing when it does. */
function refuseVerify(token: TokenInfo): void {
  const serial = token.serial;
  if (token.state === 'pending') throw new TokenStateError(`token ${serial} is pending: activate it with a code the app shows now (radotp token activate ${serial} CODE)`);
  if (token.state === 'disabled') {
    // enabling an assigned token would let its user log in with it: said only for a token in the pool
    const way = token.username ? 'as at a login' : `\`radotp token enable ${serial}\` puts it back in the pool, where verify checks it`;
    throw new TokenStateError(`token ${serial} is disabled (${token.disabledReason}): it checks no codes${token.username ? ', ' : '; '}${way}`);
  }
  if (token.kind === 'ocra') throw new TokenStateError(`token ${serial} is an OCRA token; it answers challenges during login`);
}

interface ChangeOptions {
  readonly username?: string | null;
  readonly detail?: Record<string, unknown>;
}

/** The audit row of an admin's change to a token (see TokenAdmin.changed). */
function changeEvent(action: AdminAction, token: TokenInfo, reason: string, opts: ChangeOptions = {}) {
  const username = opts.username !== undefined ? opts.username : token.username;
  return { username: username ?? undefined, tokenSerial: token.serial, method: `token ${action}`, result: 'admin', reason, detail: opts.detail };
}

/**
 * The user was read, then removed by another admin before the token referring to them was written: the
 * same answer as for a user that never existed, instead of PostgreSQL's foreign-key message.
 */
function userRemovedMeanwhile(e: unknown, username: string): unknown {
  return isForeignKeyViolation(e) ? new NotFoundError(`no user named "${username}"`) : e;
}

/** A token as a change left it, and what the admin should know that the change does not change. */
export interface ChangedToken extends TokenInfo {
  readonly warning?: string;
}

/**
 * A token past the end of its validity (the PSKC file's ExpiryDate) is used by no login (see
 * TokenRepository.usableForUser): enabled again, its user is refused every code. Said, not refused: enabling
 * is undoing a disable, and the token's state is the admin's to restore.
 */
function expiredUnused(token: TokenInfo, nowSeconds: number): string | undefined {
  const expiredOn = validityEnded(token, nowSeconds);
  if (!expiredOn) return undefined;
  const instead = token.username ? `give ${token.username} another token` : 'it cannot be handed out';
  return `token ${token.serial} expired on ${expiredOn.toISOString()} (the end of its validity): no login uses it; ${instead}`;
}

/** What the admin should be told, as one line (the CLI prints it as one warning); undefined when nothing. */
function warnings(...said: (string | undefined)[]): string | undefined {
  return said.filter((w) => w !== undefined).join('; ') || undefined;
}

/**
 * A token handed out while locked by wrong codes (typed checking it in the pool, or by its last user): every
 * code of its new user is refused until the lock runs out. Said, not refused: the lock runs out by itself.
 */
function lockedFor(token: TokenInfo, username: string, nowSeconds: number): string | undefined {
  if (!isLocked(token, nowSeconds)) return undefined;
  return `token ${token.serial} is locked until ${token.lockedUntil!.toISOString()} after wrong codes: ${username}'s codes are refused until then; \`radotp token unlock ${token.serial}\` clears the lock`;
}

/**
 * A token disabled as stolen, enabled again: its seed is in the fob the thief holds, who makes its codes for
 * whoever is given it next (with their password, the one factor left). Said, not refused: a fob recovered is
 * the admin's to restore, as is a reason given by mistake.
 */
function stolenOut(before: TokenInfo): string | undefined {
  if (before.disabledReason !== 'stolen') return undefined;
  return `token ${before.serial} was disabled as stolen: whoever holds it can make its codes; hand it out again only once it is back in your hands`;
}

/** The end of the token's validity (its PSKC ExpiryDate) when that has passed at `nowSeconds`; undefined otherwise. */
function validityEnded(token: Pick<TokenInfo, 'validTo'>, nowSeconds: number): Date | undefined {
  return token.validTo !== null && token.validTo.getTime() <= nowSeconds * 1000 ? token.validTo : undefined;
}

/**
 * A user whose method is password is asked for no code at login, whatever tokens they hold: the admin who
 * handed them a token believed they now had two factors. Said, not refused: a token may be handed out first.
 */
function noCodeAsked(username: string, method: string): string | undefined {
  if (method === 'token') return undefined;
  return `${username} logs in with method ${method}, which asks for no code: run \`radotp user set ${username} --method token\` to require this token`;
}

/** Another admin changed the token between this command's read and its write: nothing was done. */
function changedMeanwhile(serial: string): TokenStateError {
  return new TokenStateError(`token ${serial} changed meanwhile; try again`);
}

/**
 * Why a TOTP resync found nothing. Steps up to the last accepted one stay spent whatever the clock says;
 * after a resync to a device whose clock ran ahead, that is a point in the future, and the device's
 * codes (once its clock is right) stay refused until then: say so, and what the way out is.
 */
function notResyncedTotp(serial: string, t: { lastStep: bigint; period: number; t0: bigint }, now: number): string {
  const spentUntil = (Number(t.lastStep) + 1) * t.period + Number(t.t0);
  const base = `codes are not two consecutive codes of token ${serial} within the resync window (or were already used)`;
  if (spentUntil <= now + t.period) return base;
  return (
    `${base}; its codes up to ${new Date(spentUntil * 1000).toISOString()} (${Math.round(spentUntil - now)} s ahead of this server's clock) ` +
    'count as used, after a login or resync with a clock set ahead: wait until then, or delete the token and enroll a new one'
  );
}
