import { andThen, type Awaitable } from '../lang/awaitable';
import { findHotpMatch, findOcraMatch, findTotpMatch, parseOcraSuite, totpParamsOf, type OcraSuite } from '../otp';
import type { KeyRing } from '../secrets/keyring';
import { UserChangedError } from '../store/errors';
import { MAX_NEXT_COUNTER } from '../store/schema';
import type { LastSpend, LoginToken, TokenRepository } from '../store/tokens';

export interface VerifierSettings {
  readonly totpWindow: number;
  readonly hotpLookAhead: number;
  readonly maxFailures: number;
  readonly lockSeconds: number;
  /**
   * Seconds after a spend within which the very request that made it, sent again to another node, is
   * answered as accepted (see retransmitted): the duplicate-detection window, radius.duplicateWindow. Default 30.
   */
  readonly retransmissionWindow?: number;
}

/** The result of checking one code against a user's tokens; `token` is the one it concerns, if any. */
export type CodeCheck =
  | { readonly result: 'accept'; readonly token: LoginToken }
  | { readonly result: 'replay'; readonly token: LoginToken }
  /**
   * The code is the token's, but the token is no longer the user's who typed it (unassigned, or handed to another
   * user, since it was read for them): nothing spent, no failure counted, and no replay (no code was used twice).
   */
  | { readonly result: 'owner_changed'; readonly token: LoginToken }
  /**
   * The code is the token's, but the token was disabled (lost, stolen) or deleted since it was read (a node's
   * cache that has not heard yet): nothing spent, and no failure counted against the user's other tokens (a right
   * code is no guess at them). A wrong code is still bad_code, counted, as on a node that has heard.
   */
  | { readonly result: 'token_disabled'; readonly token: LoginToken }
  | { readonly result: 'token_deleted'; readonly token: LoginToken }
  /**
   * The code is the token's, but the token is past its validity (valid_from/valid_to) by the database's clock: moved
   * since it was read, or a node's clock behind the database's. Nothing spent, no failure counted (as token_disabled).
   */
  | { readonly result: 'token_expired'; readonly token: LoginToken }
  /** The request that spent this code, received again (on another node): answered as it was, accepted. */
  | { readonly result: 'retransmission'; readonly token: LoginToken }
  | { readonly result: 'locked'; readonly token?: LoginToken }
  /** `token`: the one token the failure was counted against, when the user has one open (see refuse). */
  | { readonly result: 'bad_code'; readonly token?: LoginToken };

type Match = { kind: 'step'; step: number; drift: number } | { kind: 'counter'; counter: bigint } | { kind: 'ocra'; step?: bigint; counter?: bigint };


const suiteCache = new Map<string, OcraSuite>();
export function ocraSuiteOf(token: { ocraSuite: string | null }): OcraSuite {
  const text = token.ocraSuite ?? '';
  let suite = suiteCache.get(text);
  if (!suite) suiteCache.set(text, (suite = parseOcraSuite(text)));
  return suite;
}

export function isLocked(t: { lockedUntil: Date | null }, now: number): boolean {
  return t.lockedUntil !== null && t.lockedUntil.getTime() > now * 1000;
}

/**
 * Checks a code against a user's tokens and, on a match, spends it atomically in PostgreSQL
 * (replay-proof across nodes). Knows the verification rules; knows nothing of RADIUS.
 */
export class TokenVerifier {
  constructor(
    private readonly tokens: Pick<TokenRepository, 'acceptStep' | 'acceptCounter' | 'isStillSpendable' | 'recordFailure' | 'lastSpend'>,
    private readonly keys: Pick<KeyRing, 'digests'>,
    private readonly settings: VerifierSettings,
    private readonly clock: () => number = () => Date.now() / 1000,
  ) {}

  /** Finds the token/step a code matches without spending it. `spentToo` also searches already-used steps (replay detection). */
  private match(t: LoginToken, code: string, now: number, ocraQuestion: string | undefined, spentToo: boolean): Match | null {
    switch (t.kind) {
      case 'totp': {
        const m = findTotpMatch(
          t.seed,
          code,
          totpParamsOf(t),
          { now, driftSteps: t.drift, window: this.settings.totpWindow, afterStep: spentToo ? undefined : Number(t.lastStep) },
        );
        return m && { kind: 'step', step: m.step, drift: m.drift };
      }
      case 'hotp': {
        const m = findHotpMatch(
          t.seed,
          code,
          { algorithm: t.algorithm, digits: t.digits },
          spentToo
            ? { nextCounter: t.nextCounter > 20n ? t.nextCounter - 20n : 0n, lookAhead: Number(t.nextCounter > 20n ? 20n : t.nextCounter) }
            : { nextCounter: t.nextCounter, lookAhead: this.settings.hotpLookAhead },
        );
        return m && m.counter < MAX_NEXT_COUNTER ? { kind: 'counter', counter: m.counter } : null;
      }
      case 'ocra': {
        if (ocraQuestion === undefined || spentToo) return null;
        const suite = ocraSuiteOf(t);
        const m = findOcraMatch(suite, t.seed, code, {
          question: ocraQuestion,
          counter: suite.counter ? t.nextCounter : undefined,
          lookAhead: suite.counter ? this.settings.hotpLookAhead : undefined,
          now: suite.timeStepSeconds ? now : undefined,
          timeWindow: suite.timeStepSeconds ? this.settings.totpWindow : undefined,
        });
        if (m?.counter !== undefined && m.counter >= MAX_NEXT_COUNTER) return null;
        return m && { kind: 'ocra', step: m.timestep, counter: m.counter };
      }
    }
  }

  /** Not async (see TokenRepository.acceptStep): it hands on the store's promise as it is. */
  private spend(t: LoginToken, m: Match, opts: CheckOptions): Promise<boolean> {
    const spending = { activate: opts.activate ?? false, spentBy: opts.spentBy, inPool: opts.inPool, tokenLogin: opts.tokenLogin };
    if (m.kind === 'step') return this.tokens.acceptStep(t, m.step, m.drift, spending);
    if (m.kind === 'counter') return this.tokens.acceptCounter(t, m.counter, spending);
    // OCRA: the challenge itself is single-use (consumed atomically before we get here), so a response
    // can never be replayed; only a counter suite has state to advance. A time-based suite therefore
    // allows several logins within one time step, each answering its own fresh challenge. Such a suite spends
    // nothing, but the token must still be spendable as the spend's guard has it (the user's, active, no lock in
    // force: see SpendBatcher): one read, in place of the spend.
    if (m.counter !== undefined) return this.tokens.acceptCounter(t, m.counter, spending);
    return this.tokens.isStillSpendable(t, spending);
  }

  /**
   * Checks `code` against `candidates` (a user's usable tokens). Malformed codes are a plain mismatch.
   * `activate`: the candidates are pending tokens being activated (the code proves the app holds the seed).
   * `reload`: the candidates came from a cache; anything but an accept is decided again on fresh rows
   * (a stale counter, drift or lock must never turn a good code into "bad", nor count a failure twice).
   * An owner change, a token disabled or deleted, was read on the fresh row already: it stands, once the reload has
   * found the user still there (a removed user's login is refused as such, see AuthCache.stillTheirs). Decided
   * again on the fresh rows, where the token is absent, the right code was `bad_code` and counted a failure
   * against the user's other tokens.
   * A plain result when nothing was waited for (see Awaitable): a match waits for its spend.
   */
  check(candidates: readonly LoginToken[], code: string, opts: CheckOptions = {}): Awaitable<CodeCheck> {
    const now = this.clock();
    const reload = opts.reload;
    if (reload === undefined) return this.decide(candidates, code, now, opts);
    // from a cache: a match is spent at once; anything else is decided on fresh rows
    return andThen(this.tryAccept(candidates, code, now, opts), (quick) => {
      if (quick?.result === 'accept' || quick?.result === 'retransmission') return quick;
      if (quick !== undefined && CHANGED_SINCE_READ.has(quick.result)) return andThen(reload(), () => quick);
      return andThen(reload(), (fresh) => this.decide(fresh, code, now, opts));
    });
  }

  private decide(candidates: readonly LoginToken[], code: string, now: number, opts: CheckOptions): Awaitable<CodeCheck> {
    return andThen(this.tryAccept(candidates, code, now, opts), (found) => found ?? this.refuse(candidates, code, now, opts));
  }

  /** No candidate took the code: a replay, a lock, or a wrong code (counted against every open token). */
  private refuse(candidates: readonly LoginToken[], code: string, now: number, opts: CheckOptions): Awaitable<CodeCheck> {
    // RFC 6238 §5.2: a code already accepted once is refused — say so in the audit trail (unless the request
    // that spent it is the one here again, see retransmitted).
    for (const t of candidates) {
      const m = this.spentMatch(t, code, now, opts.spentBy !== undefined);
      if (m) return opts.spentBy ? this.retransmitted(t, m, opts.spentBy, opts.onSpent) : replay(t);
    }
    const open = candidates.filter((t) => !isLocked(t, now));
    if (open.length === 0 && candidates.length > 0) return { result: 'locked', token: candidates[0] };
    return this.tokens
      .recordFailure(
        open.map((t) => t.id),
        this.keys.digests(code, 'failure-digest'),
        this.settings.maxFailures,
        this.settings.lockSeconds,
      )
      .then(() => (open.length === 1 ? { result: 'bad_code', token: open[0]! } : BAD_CODE));
  }

  /** The first candidate the code matches, spent atomically; undefined when none matches. */
  private tryAccept(candidates: readonly LoginToken[], code: string, now: number, opts: CheckOptions): Awaitable<CodeCheck | undefined> {
    for (const t of candidates) {
      const m = this.match(t, code, now, opts.ocraQuestion, false);
      if (!m) continue;
      if (isLocked(t, now)) return { result: 'locked', token: t };
      return this.spend(t, m, opts).then((won) => (won ? spent(t, m, opts.onSpent) : this.lost(t, m, opts)));
    }
    return undefined;
  }

  /**
   * The spend of a code that matched token `t` lost: the token is another user's now (or nobody's), the code was
   * spent already (a replay, or this very request sent again: see retransmitted), or the token stopped being
   * usable (told on fresh rows, see check). Read here only, on this rare path: the token's row as it is now.
   * A token read for one user and now another's is not a replay: no code was used twice, and the audit trail must
   * not send an admin looking for a stolen code. Nor is a token disabled or deleted meanwhile (see CodeCheck).
   * A lock set since is told as such, after a retransmission (see retransmitted: the original came before it).
   * The user's method changed since (a token login's spend, see CheckOptions.tokenLogin) is no answer of the code's:
   * UserChangedError has the pipeline decide the login again on the user as they are now.
   */
  private async lost(t: LoginToken, m: Match, opts: CheckOptions): Promise<CodeCheck> {
    const last = await this.tokens.lastSpend(t.id, this.settings.retransmissionWindow ?? DEFAULT_RETRANSMISSION_WINDOW);
    if (last === undefined) return { result: 'token_deleted', token: t };
    if (last.userId !== t.userId) return { result: 'owner_changed', token: t };
    // the user's method changed since a cache read it (see CheckOptions.tokenLogin): the login is decided again
    if (opts.tokenLogin && last.ownerMethod !== TOKEN_METHOD) throw new UserChangedError();
    if (last.state === 'disabled') return { result: 'token_disabled', token: t };
    if (!last.valid) return { result: 'token_expired', token: t };
    const again = opts.spentBy ? this.retransmittedAfter(last, t, m, opts.spentBy, opts.onSpent) : replay(t);
    if (again.result === 'replay' && last.lockedUntil) return { result: 'locked', token: { ...t, lockedUntil: last.lockedUntil } };
    return again;
  }

  /**
   * Whether `code` is one the request `spentBy` spent, within the window: the check of an answer to a
   * challenge used up already (see TokenMethod.retransmitted). Spends nothing, counts no failure.
   */
  async retransmission(candidates: readonly LoginToken[], code: string, spentBy: Buffer): Promise<CodeCheck | undefined> {
    const now = this.clock();
    for (const t of candidates) {
      const m = this.spentMatch(t, code, now, true);
      if (!m) continue;
      const check = await this.retransmitted(t, m, spentBy);
      return check.result === 'retransmission' ? check : undefined;
    }
    return undefined;
  }

  /**
   * Where `code` matches token `t` spent or not (a replay's match); with `lastStep`, also at the TOTP step its
   * last spend used when that has left the window (see lastSpentStep): only a retransmission can be told there.
   */
  private spentMatch(t: LoginToken, code: string, now: number, lastStep: boolean): Match | null {
    return this.match(t, code, now, undefined, true) ?? (lastStep ? lastSpentStep(t, code) : null);
  }

  /**
   * The code matched `m` of token `t`, which is spent already (the spend lost, or the row showed it spent):
   * a replay, unless this very request spent it. A NAS that got no answer from the node that spent the code
   * (killed after its spend, or too slow) sends the same packet to another node of the cluster. RFC 5080
   * §2.2.2 (duplicate detection) has a server answer a retransmission of a request it already processed as
   * it answered the original, not process it afresh; the duplicate cache does so on one node
   * (src/radius/duplicate-cache.ts), this does it across the nodes of a cluster, which share one database.
   * Read here only, on this rare path: the token's last spend, which must be by the same request (client,
   * Request Authenticator, User-Name: see retransmission.ts), of exactly the step/counter this code matched,
   * within the duplicate-detection window. A lock set since (wrong codes typed after the accept) does not change
   * the answer: the original was given before it, and the lock is for new requests.
   * This does NOT weaken "a code is accepted once" (RFC 6238 §5.2, RFC 4226 §7.2): another packet carrying the
   * same code, even from the same NAS for the same user, has another Request Authenticator, and stays a replay.
   */
  private async retransmitted(t: LoginToken, m: Match, spentBy: Buffer, onSpent?: SpentHook): Promise<CodeCheck> {
    const last = await this.tokens.lastSpend(t.id, this.settings.retransmissionWindow ?? DEFAULT_RETRANSMISSION_WINDOW);
    return this.retransmittedAfter(last, t, m, spentBy, onSpent);
  }

  /** retransmitted, on the token's last spend read already. */
  private retransmittedAfter(last: LastSpend | undefined, t: LoginToken, m: Match, spentBy: Buffer, onSpent?: SpentHook): CodeCheck {
    const sameRequest = last !== undefined && last.recent && last.spentBy !== null && spentBy.equals(last.spentBy);
    if (!sameRequest || !spentAt(m, last)) return replay(t);
    onSpent?.(t, spentState(m)); // the token's state is what that spend left: a cache starts from it
    return { result: 'retransmission', token: t };
  }
}

const DEFAULT_RETRANSMISSION_WINDOW = 30;

/** The method whose logins need the user to log in with a token (see CheckOptions.tokenLogin). */
const TOKEN_METHOD = 'token';

/** What a lost spend read on the token's row as it is now, standing over what the cached rows would decide. */
const CHANGED_SINCE_READ: ReadonlySet<CodeCheck['result']> = new Set(['owner_changed', 'token_disabled', 'token_deleted', 'token_expired']);

/**
 * The TOTP step the token's last spend used, when `code` is that step's code, wherever the window is now.
 * A retransmission is recognised for radius.duplicateWindow (up to 10 minutes) after the spend, but the
 * TOTP window (re-centred on the spent step by the drift the spend recorded) leaves a spent step behind
 * after totpWindow steps: a NAS failing over later than that would otherwise be told bad_code, and a
 * failure counted, for the very request that was accepted. Only the one spent step is computed (HOTP's
 * replay search always covers the last counter); retransmitted() still requires the same request.
 */
function lastSpentStep(t: LoginToken, code: string): Match | null {
  if (t.kind !== 'totp' || t.lastStep < 0n) return null; // -1: never spent
  const step = Number(t.lastStep);
  const m = findTotpMatch(
    t.seed,
    code,
    totpParamsOf(t),
    { now: Number(t.t0) + step * t.period, driftSteps: 0, window: 0 },
  );
  return m && { kind: 'step', step, drift: t.drift };
}

/** Whether the token's last spend was of exactly the step/counter `m`. */
function spentAt(m: Match, last: LastSpend): boolean {
  if (m.kind === 'step') return last.lastStep === BigInt(m.step);
  // an OCRA counter suite spends its counter; OCRA without one spends nothing, and never loses a spend
  return m.counter !== undefined && last.nextCounter === m.counter + 1n;
}

function replay(t: LoginToken): CodeCheck {
  return { result: 'replay', token: t };
}

const BAD_CODE: CodeCheck = { result: 'bad_code' };

/** The spend won: the code is ours. */
function spent(t: LoginToken, m: Match, onSpent: SpentHook | undefined): CodeCheck {
  onSpent?.(t, spentState(m));
  return { result: 'accept', token: t };
}

export type SpentHook = (token: LoginToken, state: { lastStep?: bigint; drift?: number; nextCounter?: bigint }) => void;

interface CheckOptions {
  readonly ocraQuestion?: string;
  readonly activate?: boolean;
  readonly reload?: () => Promise<readonly LoginToken[]>;
  readonly onSpent?: SpentHook;
  /** The login request's fingerprint (see retransmission.ts), kept with the spend; none for an admin's check. */
  readonly spentBy?: Buffer;
  /** The candidates are tokens in the pool checked by an admin (`token verify`): spent there, left in the pool. */
  readonly inPool?: boolean;
  /**
   * The code is the whole login of a user whose method (`token`) came from a node's cache unchecked (otp-only: no
   * password is read, and with it the method, see LocalPasswordFactor): the spend requires the user to have method
   * `token` still; if they no longer do, the login is decided again (UserChangedError, see AuthPipeline.start).
   */
  readonly tokenLogin?: boolean;
}

function spentState(m: Match): { lastStep?: bigint; drift?: number; nextCounter?: bigint } {
  if (m.kind === 'step') return { lastStep: BigInt(m.step), drift: m.drift };
  if (m.kind === 'counter') return { nextCounter: m.counter + 1n };
  return { lastStep: m.step, nextCounter: m.counter !== undefined ? m.counter + 1n : undefined };
}
