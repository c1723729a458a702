import { accept, reject } from '../decision';
import type { FirstFactor } from '../first-factor';
import type { AuthContext, AuthMethod, MethodOutcome } from '../method';

/** `password`: the first factor alone decides. */
export class PasswordMethod implements AuthMethod {
  readonly name = 'password';
  constructor(private readonly firstFactor: FirstFactor) {}

  async start(ctx: AuthContext): Promise<MethodOutcome> {
    const ok = await this.firstFactor.verify(ctx.user, ctx.request.password);
    return ok ? accept('password_ok') : reject('bad_password');
  }

  async resume(): Promise<MethodOutcome> {
    return reject('unexpected_challenge_answer');
  }
}
