import { andThen, type Awaitable } from '../lang/awaitable';
import { findHotpMatch, findOcraMatch, findTotpMatch, parseOcraSuite, type OcraSuite } from '../otp';
import type { KeyRing } from '../secrets/keyring';
import type { LoginToken, TokenRepository } from '../store/tokens';

export interface VerifierSettings {
  readonly totpWindow: number;
  readonly hotpLookAhead: number;
  readonly maxFailures: number;
  readonly lockSeconds: number;
}

/** The result of checking one code against a user's tokens; `token` is the one it concerns, if any. */
export type CodeCheck =
  | { readonly result: 'accept'; readonly token: LoginToken }
  | { readonly result: 'replay'; readonly token: LoginToken }
  | { readonly result: 'locked'; readonly token?: LoginToken }
  | { readonly result: 'bad_code' };

type Match = { kind: 'step'; step: number; drift: number } | { kind: 'counter'; counter: bigint } | { kind: 'ocra'; step?: bigint; counter?: bigint };

const SPENT = Promise.resolve(true);

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
    private readonly tokens: Pick<TokenRepository, 'acceptStep' | 'acceptCounter' | 'recordFailure'>,
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
          { algorithm: t.algorithm, digits: t.digits, period: t.period, t0: Number(t.t0) },
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
        return m && { kind: 'counter', counter: m.counter };
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
        return m && { kind: 'ocra', step: m.timestep, counter: m.counter };
      }
    }
  }

  /** Not async (see TokenRepository.acceptStep): it hands on the store's promise as it is. */
  private spend(t: LoginToken, m: Match, activate: boolean): Promise<boolean> {
    if (m.kind === 'step') return this.tokens.acceptStep(t.id, m.step, m.drift, { activate });
    if (m.kind === 'counter') return this.tokens.acceptCounter(t.id, m.counter, { activate });
    // OCRA: the challenge itself is single-use (consumed atomically before we get here), so a response
    // can never be replayed; only a counter suite has state to advance. A time-based suite therefore
    // allows several logins within one time step, each answering its own fresh challenge.
    if (m.counter !== undefined) return this.tokens.acceptCounter(t.id, m.counter, { activate });
    return SPENT;
  }

  /**
   * Checks `code` against `candidates` (a user's usable tokens). Malformed codes are a plain mismatch.
   * `activate`: the candidates are pending tokens being activated (the code proves the app holds the seed).
   * `reload`: the candidates came from a cache; anything but an accept is decided again on fresh rows
   * (a stale counter, drift or lock must never turn a good code into "bad", nor count a failure twice).
   * A plain result when nothing was waited for (see Awaitable): a match waits for its spend.
   */
  check(candidates: readonly LoginToken[], code: string, opts: CheckOptions = {}): Awaitable<CodeCheck> {
    const now = this.clock();
    const reload = opts.reload;
    if (reload === undefined) return this.decide(candidates, code, now, opts);
    // from a cache: a match is spent at once; anything else is decided on fresh rows
    return andThen(this.tryAccept(candidates, code, now, opts), (quick) =>
      quick?.result === 'accept' ? quick : andThen(reload(), (fresh) => this.decide(fresh, code, now, opts)),
    );
  }

  private decide(candidates: readonly LoginToken[], code: string, now: number, opts: CheckOptions): Awaitable<CodeCheck> {
    return andThen(this.tryAccept(candidates, code, now, opts), (found) => found ?? this.refuse(candidates, code, now));
  }

  /** No candidate took the code: a replay, a lock, or a wrong code (counted against every open token). */
  private refuse(candidates: readonly LoginToken[], code: string, now: number): Awaitable<CodeCheck> {
    // RFC 6238 §5.2: a code already accepted once is refused — say so in the audit trail.
    for (const t of candidates) if (this.match(t, code, now, undefined, true)) return { result: 'replay', token: t };
    const open = candidates.filter((t) => !isLocked(t, now));
    if (open.length === 0 && candidates.length > 0) return { result: 'locked', token: candidates[0] };
    return this.tokens
      .recordFailure(
        open.map((t) => t.id),
        this.keys.digests(code, 'failure-digest'),
        this.settings.maxFailures,
        this.settings.lockSeconds,
      )
      .then(() => BAD_CODE);
  }

  /** The first candidate the code matches, spent atomically; undefined when none matches. */
  private tryAccept(candidates: readonly LoginToken[], code: string, now: number, opts: CheckOptions): Awaitable<CodeCheck | undefined> {
    for (const t of candidates) {
      const m = this.match(t, code, now, opts.ocraQuestion, false);
      if (!m) continue;
      if (isLocked(t, now)) return { result: 'locked', token: t };
      return this.spend(t, m, opts.activate ?? false).then((won) => spent(won, t, m, opts.onSpent));
    }
    return undefined;
  }
}

const BAD_CODE: CodeCheck = { result: 'bad_code' };

/** The spend's verdict: the code is ours, or another request (another node) got there first. */
function spent(won: boolean, t: LoginToken, m: Match, onSpent: SpentHook | undefined): CodeCheck {
  if (!won) return { result: 'replay', token: t };
  onSpent?.(t, spentState(m));
  return { result: 'accept', token: t };
}

export type SpentHook = (token: LoginToken, state: { lastStep?: bigint; drift?: number; nextCounter?: bigint }) => void;

interface CheckOptions {
  readonly ocraQuestion?: string;
  readonly activate?: boolean;
  readonly reload?: () => Promise<readonly LoginToken[]>;
  readonly onSpent?: SpentHook;
}

function spentState(m: Match): { lastStep?: bigint; drift?: number; nextCounter?: bigint } {
  if (m.kind === 'step') return { lastStep: BigInt(m.step), drift: m.drift };
  if (m.kind === 'counter') return { nextCounter: m.counter + 1n };
  return { lastStep: m.step, nextCounter: m.counter !== undefined ? m.counter + 1n : undefined };
}
