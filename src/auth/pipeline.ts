import { KeyError } from '../secrets/keyring';
import { databaseFailure, postgresSqlstate, type DatabaseFailure } from '../store/connect';
import { isOurState, type ChallengeRepository, type PendingChallenge } from '../store/challenges';
import { UserChangedError, UserRemovedError } from '../store/errors';
import type { LoginUser } from '../store/users';
import { andThen, type Awaitable } from '../lang/awaitable';
import { CHALLENGE_EXPIRED, fail, reject } from './decision';
import type { AuthMethod, MethodOutcome } from './method';
import { appendHashCost } from './append-split';
import { burnDecoys, type FirstFactor } from './first-factor';
import { burnPasswordVerification, PasswordQueueFull } from './password-hash';
import { OneLoginPerUser, type TurnRefusal } from './one-login-per-user';
import type { AuthRequest } from './request';

export type Outcome = MethodOutcome & { readonly method?: string };

/** What an unknown user's login pays so that it takes as long as a known user's (see startFor). */
export interface Decoys {
  readonly firstFactor: Pick<FirstFactor, 'burn'>;
  /** The deployment's code lengths: the price of an append login depends on them (see append-split.ts). */
  codeLengthsInUse(): readonly number[];
}

/**
 * The reason of a login the database kept from being decided. Still `fail` (no answer: the NAS retries or fails
 * over), but the one on call acts differently on each (see DatabaseFailure): the database is down; a statement
 * outlived database.queryTimeout (a lock, a slow query); every pooled connection was busy (database.poolSize).
 * All three were database_unavailable before; audit rows written then keep that reason.
 */
const DATABASE_REASONS: Readonly<Record<DatabaseFailure, string>> = {
  unavailable: 'database_unavailable',
  timeout: 'database_timeout',
  pool_exhausted: 'database_pool_exhausted',
};

/**
 * Logins of one user that may wait on a node while one of theirs is decided (see OneLoginPerUser). A person
 * has one login in progress at a time; a few more cover two NASes or a challenge answered as the first step
 * of another login is decided. Beyond them a login is refused unchecked (reason CONCURRENT_LOGINS).
 */
export const MAX_WAITING_LOGINS_PER_USER = 8;

/** How many times a login is decided again after its user's method changed under it (see AuthPipeline.start). */
const MAX_USER_CHANGED_RETRIES = 2;

/** The audit reason of a login refused, unchecked, because too many of its user's were waiting already. */
export const CONCURRENT_LOGINS = 'concurrent_logins';

/**
 * The audit reason of a login ended unstarted while it waited for its turn: the one ahead of it failed on the
 * database, or its turn came later than database.queryTimeout (see TurnLimits). `fail`, not a Reject: nothing
 * was checked, the NAS's retry is decided afresh. Named apart from database_timeout, which says a statement of
 * this login ran out of time: nine logins of one user behind one held row are one stuck statement, not nine.
 */
export const DATABASE_QUEUED = 'database_queued';

/** How long a login may wait for its turn, when not told (database.queryTimeout's default). */
export const DEFAULT_MAX_TURN_WAIT_MS = 10_000;

const REFUSED_TURNS: Readonly<Record<TurnRefusal, Outcome>> = {
  busy: reject(CONCURRENT_LOGINS),
  'waited too long': fail(DATABASE_QUEUED),
  'held up ahead': fail(DATABASE_QUEUED),
};
const refusedTurn = (why: TurnRefusal): Outcome => REFUSED_TURNS[why];

/** Whether a login's failure held up its user's logins behind it: any the database caused (see DatabaseFailure). */
const heldUpByDatabase = (e: unknown): boolean => databaseFailure(e) !== undefined;

const ARGON2_DECOYS: Decoys = { firstFactor: { burn: burnPasswordVerification }, codeLengthsInUse: () => [] };

/**
 * The method's outcome with its name. Not `{ ...outcome, method }`: V8 (Node 20) builds a new hidden
 * class for every object cloned by a spread and then extended (measured ~0.6 µs each, on every login);
 * Object.assign onto a literal reuses one.
 */
function withMethod(outcome: MethodOutcome, method: string): Outcome {
  return Object.assign({ method }, outcome);
}

/**
 * The auth pipeline: find the user, pick their method from one table, let it decide.
 * Every failure to decide (database down, a bug) becomes `fail` — never a Reject.
 * A user removed while their login was decided (UserRemovedError, from the store or the cache) is decided: a
 * Reject, as for a user who does not exist.
 */
export class AuthPipeline {
  /** bound once: the rejection handler of every login that waits */
  private readonly failure: (e: unknown) => Outcome;
  /** Each user's logins, decided one after another (auth.lockout's bound: see OneLoginPerUser). */
  private readonly perUser: OneLoginPerUser;

  constructor(
    /** `forget`: drops what a cache holds of the user (see start). */
    private readonly users: { find(username: string): Awaitable<LoginUser | undefined>; forget?(username: string): void },
    private readonly challenges: Pick<ChallengeRepository, 'take' | 'isLive'>,
    private readonly methods: ReadonlyMap<string, AuthMethod>,
    private readonly onInternalError: (e: unknown) => void = () => {},
    private readonly decoys: Decoys = ARGON2_DECOYS,
    maxWaitingPerUser = MAX_WAITING_LOGINS_PER_USER,
    /** How long a login may wait for its turn behind its user's others (database.queryTimeout: see TurnLimits). */
    maxTurnWaitMs = DEFAULT_MAX_TURN_WAIT_MS,
  ) {
    this.failure = (e) => this.failed(e);
    this.perUser = new OneLoginPerUser(maxWaitingPerUser, { maxWaitMs: maxTurnWaitMs, heldUp: heldUpByDatabase });
  }

  /**
   * A plain outcome when everything needed was in memory, else a promise of one (see Awaitable).
   * Never throws and never rejects: a thrown error and a rejection both become `fail`.
   */
  decide(req: AuthRequest): Awaitable<Outcome> {
    let outcome: Awaitable<Outcome>;
    try {
      outcome = req.state && isOurState(req.state) ? this.resume(req, req.state) : this.start(req);
    } catch (e) {
      return this.failed(e);
    }
    return outcome instanceof Promise ? outcome.catch(this.failure) : outcome;
  }

  private failed(e: unknown): Outcome {
    if (e instanceof UserRemovedError) return reject('unknown_user'); // as it is now: no fault of ours to log
    const database = databaseFailure(e);
    if (database !== undefined) {
      // A lost connection is told by the health check; an error PostgreSQL sent (disk full, max_connections
      // reached), a statement timeout (a lock, a slow query) and a pool with no free connection may leave
      // /healthz at 200, and only the login can show their cause.
      if (database !== 'unavailable' || postgresSqlstate(e) !== undefined) this.onInternalError(e);
      return fail(DATABASE_REASONS[database]);
    }
    if (e instanceof PasswordQueueFull) return fail('overload');
    this.onInternalError(e);
    // A seed sealed under a key this node's config lacks (a rotation ahead of the config): no answer, so
    // the NAS tries a node that holds it; a Reject would blame the user for the operator's config.
    if (e instanceof KeyError) return fail('key_unavailable');
    return fail('internal_error');
  }

  /**
   * A login found its user under a method changed since (UserChangedError: the cache had not heard yet) is decided
   * again on the user as they are now, a few times at most (an admin flipping the method back and forth).
   */
  private start(req: AuthRequest, attempts = MAX_USER_CHANGED_RETRIES): Awaitable<Outcome> {
    const outcome = andThen(this.users.find(req.username), (user) => this.startFor(req, user));
    if (!(outcome instanceof Promise) || attempts === 0) return outcome;
    return outcome.catch((e: unknown) => {
      if (!(e instanceof UserChangedError)) throw e;
      this.users.forget?.(req.username);
      return this.start(req, attempts - 1);
    });
  }

  private startFor(req: AuthRequest, user: LoginUser | undefined): Awaitable<Outcome> {
    if (!user) {
      // An unknown user costs what a known one would, so the answer's timing does not tell them apart. In
      // otp-only style the NAS did the first factor and a token user's login checks no password: a decoy
      // hash there would set unknown users apart instead (and hand a flood of made-up names our argon2 time).
      if (req.client.loginStyle === 'otp-only') return reject('unknown_user');
      const hashes = req.client.loginStyle === 'append' ? appendHashCost(req.password, this.decoys.codeLengthsInUse()) : 1;
      return burnDecoys(this.decoys.firstFactor, req.password, hashes).then(() => reject('unknown_user'));
    }
    const method = this.methods.get(user.method);
    if (!method) return withMethod(reject('method_unavailable'), user.method);
    return this.perUser.run(
      user.id,
      () => andThen(method.start({ request: req, user }), (outcome) => withMethod(outcome, method.name)),
      refusedTurn,
    );
  }

  private async resume(req: AuthRequest, state: Buffer): Promise<Outcome> {
    const user = await this.users.find(req.username);
    return user ? this.perUser.run(user.id, () => this.resumeFor(req, state, user), refusedTurn) : this.resumeFor(req, state, undefined);
  }

  private async resumeFor(req: AuthRequest, state: Buffer, user: LoginUser | undefined): Promise<Outcome> {
    // RFC 2865 §5.24: State is opaque to the NAS; we bind it to the user it was issued to.
    const taken = user && (await this.challenges.take(state, user.id));
    if (!taken) {
      // The answer that used the challenge up, sent again by a NAS that never got the reply (the deciding node
      // was killed or too slow, and the NAS failed over): answered as it was (RFC 5080 §2.2.2), not refused.
      const method = user && this.methods.get(user.method);
      const again = method?.retransmitted && (await method.retransmitted({ request: req, user: user! }));
      if (again) return withMethod(again, method!.name);
      return reject((await this.challenges.isLive(state)) ? 'challenge_user_mismatch' : CHALLENGE_EXPIRED);
    }
    const method = this.methods.get(taken.challenge.kind.split(':')[0]);
    if (!method) {
      await taken.consume();
      return reject('method_unavailable');
    }
    let outcome: MethodOutcome;
    try {
      outcome = await method.resume({ request: req, user }, taken.challenge);
    } catch (e) {
      if (e instanceof UserChangedError) {
        // The user no longer has the challenge's method (an otp-only answer's spend found it: see TokenVerifier.lost):
        // the answer is theirs to give under the method they have now, which decides it (a password user's: refused).
        await taken.consume();
        return this.resumeUnderMethodNow(req, taken.challenge);
      }
      await taken.release();
      throw e; // decide() turns it into `fail`
    }
    // No decision was made (no answer goes out): the NAS's retry must find the challenge again.
    if (outcome.kind === 'fail') await taken.release();
    else await taken.consume();
    return withMethod(outcome, method.name);
  }

  /** An answer to `challenge` decided by the method its user has now, read afresh (see resumeFor). */
  private async resumeUnderMethodNow(req: AuthRequest, challenge: PendingChallenge): Promise<Outcome> {
    this.users.forget?.(req.username);
    const user = await this.users.find(req.username);
    if (!user) return reject('unknown_user');
    const method = this.methods.get(user.method);
    if (!method) return withMethod(reject('method_unavailable'), user.method);
    return withMethod(await method.resume({ request: req, user }, challenge), method.name);
  }
}
