import { UserChangedError, UserRemovedError } from '../store/errors';
import type { PasswordState } from '../store/password-lockout';
import type { LoginUser } from '../store/users';
import { burnPasswordVerification, verifyPassword } from './password-hash';

/**
 * What checking a login's password decided: which candidate was the password, none, or the user is
 * locked out by earlier wrong passwords (then nothing typed is checked).
 */
export type PasswordCheck = { readonly result: 'match'; readonly index: number } | { readonly result: 'mismatch' } | { readonly result: 'locked' };

/** The first factor: does this password belong to this user? (local argon2id now; LDAP bind later) */
export interface FirstFactor {
  /**
   * Checks what the login typed against the user's password: each candidate in turn (one hash each; the
   * append style tries each way of splitting the field), the first match wins. One login is one attempt
   * toward the user's lockout however many candidates it has.
   */
  check(user: LoginUser, candidates: readonly Buffer[]): Promise<PasswordCheck>;
  /** Costs what checking one candidate costs and decides nothing: the decoy that keeps a reject's timing uniform. */
  burn(password: Buffer | undefined): Promise<void>;
}

/** Where the local password and its lock are read and counted (PasswordLockoutRepository). */
export interface PasswordStore {
  state(userId: bigint): Promise<PasswordState>;
  recordFailure(userId: bigint, maxFailures: number, lockSeconds: number): Promise<void>;
  settleSuccess(userId: bigint): Promise<{ locked: boolean }>;
}

/** `auth.lockout`: the same limits as a token's wrong codes. */
export interface PasswordLockoutSettings {
  readonly maxFailures: number;
  readonly lockSeconds: number;
}

const MISMATCH: PasswordCheck = { result: 'mismatch' };
const LOCKED: PasswordCheck = { result: 'locked' };

/**
 * The local argon2id password. The hash is read from the database at every check, never from the
 * server's user cache: a password changed a moment ago on another node counts at once, and with the
 * database away a password login gets no answer (the NAS fails over) rather than one decided on old
 * data. One indexed read costs nothing next to the ~20 ms hash.
 *
 * The same read tells a method changed since the login found the user (UserChangedError: decided again, see
 * AuthPipeline.start), so no password is let in under a method the user no longer has.
 *
 * Brute force: consecutive wrong passwords are counted per user (auth.lockout, as for a token's codes);
 * a locked user's password is not checked, at the same cost, so neither the answer nor its timing says
 * whether what was typed was right. Unlike a token's codes, the same wrong password typed again counts
 * again: telling it apart would mean keeping a fast digest of a wrong password, which is often a typo of
 * the right one. A NAS's retransmission is still not counted (the duplicate cache answers it).
 */
export class LocalPasswordFactor implements FirstFactor {
  constructor(
    private readonly passwords: PasswordStore,
    private readonly lockout: PasswordLockoutSettings,
    /** Each argon2id computation started, by what it was for (the metric radotp_password_hashes_total). */
    private readonly onHash: (purpose: PasswordHashPurpose) => void = () => {},
  ) {}

  async check(user: LoginUser, candidates: readonly Buffer[]): Promise<PasswordCheck> {
    const { hash, locked, found, method } = await this.passwords.state(user.id);
    // The login runs under the method a node's cache holds, which may be the one before `user set --method`: a user
    // moved from `password` to `token` got in on the password alone until the node heard. Nothing hashed yet.
    if (found && method !== user.method) throw new UserChangedError();
    if (locked) {
      await burnDecoys(this, candidates[0], candidates.length);
      return LOCKED;
    }
    for (let i = 0; i < candidates.length; i++) {
      const candidate = candidates[i]!;
      if (!hash || candidate.length === 0) {
        await this.burn(candidate); // same cost as a real check
        continue;
      }
      this.onHash('check');
      if (await verifyPassword(hash, candidate)) return (await this.passwords.settleSuccess(user.id)).locked ? LOCKED : { result: 'match', index: i };
    }
    // removed since the login found them: what was typed was checked against nothing (at the same cost)
    if (!found) throw new UserRemovedError();
    // a user without a local password has nothing to guess: no count (and no write) for them
    if (hash) await this.passwords.recordFailure(user.id, this.lockout.maxFailures, this.lockout.lockSeconds);
    return MISMATCH;
  }

  burn(password: Buffer | undefined): Promise<void> {
    this.onHash('decoy');
    return burnPasswordVerification(password);
  }
}

/** A real check against the user's hash, or a decoy of the same cost that decides nothing. */
export type PasswordHashPurpose = 'check' | 'decoy';

/** `count` decoy checks (none when `count` < 1), one after another as real ones run. */
export async function burnDecoys(firstFactor: Pick<FirstFactor, 'burn'>, password: Buffer | undefined, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await firstFactor.burn(password);
}
