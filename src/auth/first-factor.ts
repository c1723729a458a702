import type { UserRecord } from '../store/users';
import { burnPasswordVerification, verifyPassword } from './password-hash';

/** The first factor: does this password belong to this user? (local argon2id now; LDAP bind later) */
export interface FirstFactor {
  verify(user: UserRecord, password: Buffer | undefined): Promise<boolean>;
  /** Costs what `verify` costs and decides nothing: the decoy that keeps a reject's timing uniform. */
  burn(password: Buffer | undefined): Promise<void>;
}

/**
 * The local argon2id password. The hash is read from the database at every check, never from the
 * server's user cache: a password changed a moment ago on another node counts at once, and with the
 * database away a password login gets no answer (the NAS fails over) rather than one decided on old
 * data. One indexed read costs nothing next to the ~20 ms hash.
 */
export class LocalPasswordFactor implements FirstFactor {
  constructor(
    private readonly hashes: { currentPasswordHash(userId: bigint): Promise<string | null> },
    /** Each argon2id computation started, by what it was for (the metric radotp_password_hashes_total). */
    private readonly onHash: (purpose: PasswordHashPurpose) => void = () => {},
  ) {}

  async verify(user: UserRecord, password: Buffer | undefined): Promise<boolean> {
    const stored = password && password.length > 0 ? await this.hashes.currentPasswordHash(user.id) : null;
    if (!stored || !password || password.length === 0) {
      await this.burn(password); // same cost as a real check
      return false;
    }
    this.onHash('check');
    return verifyPassword(stored, password);
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
