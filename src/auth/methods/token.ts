import { andThen, type Awaitable } from '../../lang/awaitable';
import { MAX_OCRA_QUESTION_LENGTH, ocraChallenge, typedCode } from '../../otp';
import type { ChallengeRepository, PendingChallenge } from '../../store/challenges';
import type { LoginToken } from '../../store/tokens';
import type { LoginUser } from '../../store/users';
import { appendHashCost, appendText, codeSplits } from '../append-split';
import { requestFingerprint } from '../retransmission';
import { accept, challenge, reject, TOKEN_LOCKED } from '../decision';
import { burnDecoys, type FirstFactor } from '../first-factor';
import type { AuthContext, AuthMethod, MethodOutcome } from '../method';
import { ocraSuiteOf, type CodeCheck, type SpentHook, type TokenVerifier } from '../token-verifier';

/** Where the method gets a user's usable tokens: the store, or a cache of it (which can reload and learn). */
export interface TokenSource {
  /** A cache answers from memory with a plain value (see Awaitable). */
  usableForUser(user: Pick<LoginUser, 'id' | 'username'>, opts?: { fresh?: boolean }): Awaitable<LoginToken[]>;
  hasDisabledToken(userId: bigint): Promise<boolean>;
  /** Present on caches: the spend just made, so the next login on this node starts from it. */
  noteSpent?(token: LoginToken, state: { lastStep?: bigint; drift?: number; nextCounter?: bigint }): void;
}

export interface TokenMethodSettings {
  readonly allowUsersWithoutToken: boolean;
  readonly challengeTtl: number;
  readonly challengeMessage: string;
  readonly node: string;
  /** The code lengths of the deployment's tokens, for the price of a wrong append login (see append-split.ts). */
  readonly codeLengthsInUse: () => readonly number[];
  /**
   * The same lengths read from the database at the call, where they decide something: how the append field
   * of a user without a token is split. The list above is read again only about a second after a change.
   */
  readonly codeLengthsNow: () => Promise<readonly number[]>;
}

const CHALLENGE_KIND = 'token';

/** The Access-Challenge's prompt for an OCRA token: the question to type into it. */
const ocraPrompt = (question: string): string => `Challenge: ${question}. Enter it into your token and type the response`;

/**
 * Every prompt an Access-Challenge of this method can carry at its longest: `challengeMessage`, and the OCRA
 * one with the longest question a suite can ask (for the room a reply needs: see RadiusServerOptions).
 */
export function longestChallengePrompts(challengeMessage: string): string[] {
  return [challengeMessage, ocraPrompt('X'.repeat(MAX_OCRA_QUESTION_LENGTH))];
}
/** The audit reason of a code refused because its token is no longer the user's (see CodeCheck 'owner_changed'). */
export const TOKEN_OWNER_CHANGED = 'token_owner_changed';

const KEEP_ALL = (): boolean => true;
const isOcra = (t: LoginToken): boolean => t.kind === 'ocra';

/**
 * What a code check decides, with its audit reason (also used for the codes admins check, see TokenAdmin).
 * Literals, not `{ ...accept(...), tokenSerial }`: see withMethod in ../pipeline.ts for why.
 */
export function outcomeOf(check: CodeCheck): MethodOutcome {
  switch (check.result) {
    case 'accept':
      return { kind: 'accept', reason: 'code_ok', tokenSerial: check.token.serial };
    case 'replay':
      return { kind: 'reject', reason: 'replay', tokenSerial: check.token.serial };
    case 'owner_changed':
      // the token was unassigned from this user (or handed to another) after their tokens were read: not a
      // replay (no code was used twice), which would send an admin looking for a stolen code
      return { kind: 'reject', reason: TOKEN_OWNER_CHANGED, tokenSerial: check.token.serial };
    // disabled (lost, stolen) or deleted after a node read it, before that node heard: said as it is, no failure
    // counted (a right code is no guess at the user's other tokens)
    case 'token_disabled':
      return { kind: 'reject', reason: 'token_disabled', tokenSerial: check.token.serial };
    case 'token_deleted':
      return { kind: 'reject', reason: 'token_deleted', tokenSerial: check.token.serial };
    // past its validity by the database's clock (moved since the node read it, or the node's clock behind): as above
    case 'token_expired':
      return { kind: 'reject', reason: 'token_expired', tokenSerial: check.token.serial };
    case 'retransmission':
      // the login that spent this code, sent again by the NAS (to another node): answered as it was, and
      // audited apart so that operators see the failover (see TokenVerifier.retransmitted)
      return { kind: 'accept', reason: 'retransmission', tokenSerial: check.token.serial };
    case 'locked':
      return { kind: 'reject', reason: TOKEN_LOCKED, tokenSerial: check.token?.serial };
    case 'bad_code':
      // The token the failure was counted against, as a lock names the token it locks: an auditor asking why
      // a token locked finds its wrong codes under it. Several open tokens each counted it: none is named.
      return check.token ? { kind: 'reject', reason: 'bad_code', tokenSerial: check.token.serial } : reject('bad_code');
  }
}

/**
 * `token`: a password (first factor) and a code from an authenticator app or hardware token (TOTP,
 * HOTP, OCRA), in the login style of the RADIUS client:
 * - challenge: password, then Access-Challenge + State, then the code (the State may reach any node);
 * - append:    password immediately followed by the code in User-Password;
 * - otp-only:  the code alone (the NAS checked the first factor itself).
 * OCRA tokens need a challenge to answer, so their users always get one after the first factor.
 */
export class TokenMethod implements AuthMethod {
  readonly name = 'token';

  constructor(
    private readonly firstFactor: FirstFactor,
    private readonly tokens: TokenSource,
    private readonly challenges: Pick<ChallengeRepository, 'issue'>,
    private readonly verifier: Pick<TokenVerifier, 'check' | 'retransmission'>,
    private readonly settings: TokenMethodSettings,
  ) {
    this.onSpent = tokens.noteSpent?.bind(tokens);
  }

  /** The cache's noteSpent, bound once (not a closure per login). */
  private readonly onSpent: SpentHook | undefined;

  /**
   * Not async: the otp-only style, the hot one, waits for nothing but the spend, and with the user's
   * tokens in memory returns a plain outcome or the spend's promise (see Awaitable). The other styles
   * check a password first and are async functions.
   */
  start(ctx: AuthContext): Awaitable<MethodOutcome> {
    const typed = ctx.request.password ?? Buffer.alloc(0);
    switch (ctx.request.client.loginStyle) {
      case 'otp-only':
        return this.startOtpOnly(ctx, typed);
      case 'append':
        return this.startAppend(ctx, typed);
      default:
        return this.startChallenge(ctx, typed);
    }
  }

  private startOtpOnly(ctx: AuthContext, typed: Buffer): Awaitable<MethodOutcome> {
    return andThen(this.tokens.usableForUser(ctx.user), (tokens) => this.otpOnlyWith(ctx, tokens, typed));
  }

  private otpOnlyWith(ctx: AuthContext, tokens: LoginToken[], typed: Buffer): Awaitable<MethodOutcome> {
    if (tokens.length === 0) return reject('no_token');
    if (tokens.some(isOcra)) return this.askForCode(ctx, tokens);
    // the code is the whole login: the spend checks the user still logs in with a token (see CheckOptions.tokenLogin)
    return andThen(this.checkCode(ctx, tokens, typedCode(typed.toString('utf8')), undefined, KEEP_ALL, true), outcomeOf);
  }

  private async startChallenge(ctx: AuthContext, typed: Buffer): Promise<MethodOutcome> {
    const check = await this.firstFactor.check(ctx.user, [typed]);
    if (check.result !== 'match') return reject(check.result === 'locked' ? 'password_locked' : 'bad_password');
    const tokens = await this.tokens.usableForUser(ctx.user);
    if (tokens.length === 0) return this.withoutToken(ctx.user.id);
    return this.askForCode(ctx, tokens);
  }

  async resume(ctx: AuthContext, pending: PendingChallenge): Promise<MethodOutcome> {
    const tokens = await this.tokens.usableForUser(ctx.user);
    if (tokens.length === 0) return reject('no_token');
    const question = typeof pending.data.ocraQuestion === 'string' ? pending.data.ocraQuestion : undefined;
    const code = typedCode((ctx.request.password ?? Buffer.alloc(0)).toString('utf8'));
    // otp-only (an OCRA question): no step of the login read a password, and with it the method (see startOtpOnly)
    const tokenLogin = ctx.request.client.loginStyle === 'otp-only';
    return outcomeOf(await this.checkCode(ctx, tokens, code, question, KEEP_ALL, tokenLogin));
  }

  /**
   * An answer whose challenge is gone: the answer that used it up, sent again (same client, Request
   * Authenticator and User-Name: see TokenVerifier.retransmitted), is accepted as it was; anything else is
   * left to the pipeline to refuse. Fresh rows: a node's cache may not yet know the step the answer spent.
   * OCRA: the question went with the challenge, so its answer cannot be checked again (it stays refused).
   */
  async retransmitted(ctx: AuthContext): Promise<MethodOutcome | undefined> {
    const spentBy = requestFingerprint(ctx.request);
    if (!spentBy) return undefined;
    const tokens = await this.tokens.usableForUser(ctx.user, { fresh: true });
    const code = typedCode((ctx.request.password ?? Buffer.alloc(0)).toString('utf8'));
    const check = await this.verifier.retransmission(tokens, code, spentBy);
    return check && outcomeOf(check);
  }

  /** Verifies a code; with a cache, a miss is decided again on fresh rows. */
  private checkCode(
    ctx: AuthContext,
    tokens: readonly LoginToken[],
    code: string,
    ocraQuestion?: string,
    keep: (t: LoginToken) => boolean = KEEP_ALL,
    tokenLogin = false,
  ): Awaitable<CodeCheck> {
    const user = ctx.user;
    const source = this.tokens;
    return this.verifier.check(keep === KEEP_ALL ? tokens : tokens.filter(keep), code, {
      ocraQuestion,
      reload: source.noteSpent ? async () => (await source.usableForUser(user, { fresh: true })).filter(keep) : undefined,
      onSpent: this.onSpent,
      spentBy: requestFingerprint(ctx.request),
      tokenLogin,
    });
  }

  /**
   * A roll-out period: users not yet enrolled still get in on their password (audited as such) —
   * but never a user whose token was disabled (lost, stolen): that must not weaken them to one factor.
   */
  private async withoutToken(userId: bigint): Promise<MethodOutcome> {
    if (!this.settings.allowUsersWithoutToken) return reject('no_token');
    if (await this.tokens.hasDisabledToken(userId)) return reject('token_disabled');
    return accept('no_token_allowed');
  }

  private async askForCode(ctx: AuthContext, tokens: readonly LoginToken[]): Promise<MethodOutcome> {
    const ocra = tokens.find(isOcra);
    let message = this.settings.challengeMessage;
    const data: Record<string, unknown> = {};
    if (ocra) {
      const question = ocraChallenge(ocraSuiteOf(ocra));
      data.ocraQuestion = question;
      message = ocraPrompt(question);
    }
    const state = await this.challenges.issue({
      userId: ctx.user.id,
      kind: CHALLENGE_KIND,
      data,
      node: this.settings.node,
      ttlSeconds: this.settings.challengeTtl,
    });
    return challenge('password_ok', message, state);
  }

  /**
   * Password and code in one field: the code is the last `digits` characters (of some token of the user).
   * A wrong password costs the deployment's price (see append-split.ts), decoys making up the difference.
   */
  private async startAppend(ctx: AuthContext, typed: Buffer): Promise<MethodOutcome> {
    const tokens = await this.tokens.usableForUser(ctx.user);
    const own = tokens.filter((t) => t.kind !== 'ocra').map((t) => t.digits);
    const text = appendText(typed);
    // A user with no token that can log in (none handed out yet, or it was disabled or has expired) still
    // types "password then code" in this style. Unless a password alone may get them in
    // (allowUsersWithoutToken), the field is split at the deployment's code lengths, as a token holder's
    // is, so that the right password followed by a code is no wrong password: it is audited no_token (as
    // in the challenge style) and locks nobody's password. The same splits are what appendHashCost
    // charges such a user, so the cost is unchanged. They are read from the database for this login, not
    // taken from the list kept for the price: that one is about a second late after a token change, and
    // split at it the right password followed by a code of a length just put in use was a wrong password,
    // counted toward the user's lockout. A late list may cost timing uniformity, never a decision.
    const canOnlyBeRefused = tokens.length === 0 && !this.settings.allowUsersWithoutToken;
    const lengths = canOnlyBeRefused ? await this.settings.codeLengthsNow() : own;
    const splits = codeSplits(text, lengths);
    // each way of splitting the field, longest code first; with none, the whole field is the password
    const candidates = splits.length > 0 ? splits.map((digits) => Buffer.from(text.slice(0, -digits), 'utf8')) : [typed];
    const check = await this.firstFactor.check(ctx.user, candidates);
    if (check.result === 'match') {
      if (canOnlyBeRefused) return this.withoutToken(ctx.user.id);
      if (splits.length > 0) {
        const digits = splits[check.index]!;
        return outcomeOf(await this.checkCode(ctx, tokens, text.slice(-digits), undefined, (t) => t.kind !== 'ocra' && t.digits === digits));
      }
      // Nothing typed ends in a code of the user's, and the whole field is the password: the audit can say
      // what went wrong (the code was left out), and a user without a code token (none yet, or OCRA only)
      // gets in with it.
      if (own.length > 0) return reject('no_code');
      // OCRA only: the appended part cannot be a response to a challenge not yet shown
      return tokens.length > 0 ? this.askForCode(ctx, tokens) : this.withoutToken(ctx.user.id);
    }
    await burnDecoys(this.firstFactor, typed, appendHashCost(typed, this.settings.codeLengthsInUse(), lengths) - candidates.length);
    return reject(check.result === 'locked' ? 'password_locked' : 'bad_password');
  }
}
