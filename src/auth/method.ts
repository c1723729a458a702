import type { PendingChallenge } from '../store/challenges';
import type { LoginUser } from '../store/users';
import type { Awaitable } from '../lang/awaitable';
import type { Decision } from './decision';
import type { AuthRequest } from './request';

/** A method's decision plus what the audit trail should record about it (never a secret). */
export type MethodOutcome = Decision & { readonly tokenSerial?: string };

export interface AuthContext {
  readonly request: AuthRequest;
  readonly user: LoginUser;
}

/**
 * One auth method (password, token, push, sms...). The pipeline picks exactly one per user from its
 * `method` column and never looks inside; methods never see RADIUS packets.
 */
export interface AuthMethod {
  readonly name: string;
  /** A request that does not answer one of our challenges: a plain outcome when nothing had to be waited for. */
  start(ctx: AuthContext): Awaitable<MethodOutcome>;
  /** A request whose State names a challenge this method issued (already consumed, unexpired, same user). */
  resume(ctx: AuthContext, challenge: PendingChallenge): Promise<MethodOutcome>;
  /**
   * A request whose State names no challenge (any more): its outcome when it is the very request that
   * answered one already, sent again by the NAS (to another node); undefined when it is not. Optional.
   */
  retransmitted?(ctx: AuthContext): Promise<MethodOutcome | undefined>;
}
