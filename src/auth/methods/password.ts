import { appendHashCost } from '../append-split';
import { accept, reject } from '../decision';
import { burnDecoys, type FirstFactor } from '../first-factor';
import type { AuthContext, AuthMethod, MethodOutcome } from '../method';

/** `password`: the first factor alone decides. */
export class PasswordMethod implements AuthMethod {
  readonly name = 'password';
  constructor(
    private readonly firstFactor: FirstFactor,
    /** The deployment's code lengths: in the append style a wrong password costs what a token user's does. */
    private readonly codeLengthsInUse: () => readonly number[] = () => [],
  ) {}

  async start(ctx: AuthContext): Promise<MethodOutcome> {
    const password = ctx.request.password ?? Buffer.alloc(0);
    const check = await this.firstFactor.check(ctx.user, [password]);
    if (check.result === 'match') return accept('password_ok');
    // the field may end in digits that a token user's login would split off (see append-split.ts)
    if (ctx.request.client.loginStyle === 'append') await burnDecoys(this.firstFactor, password, appendHashCost(password, this.codeLengthsInUse()) - 1);
    return reject(check.result === 'locked' ? 'password_locked' : 'bad_password');
  }

  async resume(): Promise<MethodOutcome> {
    return reject('unexpected_challenge_answer');
  }
}
