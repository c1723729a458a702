import type { UserRecord } from '../store/users';
import { burnPasswordVerification, verifyPassword } from './password-hash';

/** The first factor: does this password belong to this user? (local argon2id now; LDAP bind later) */
export interface FirstFactor {
  verify(user: UserRecord, password: Buffer | undefined): Promise<boolean>;
}

/**
 * The local argon2id password. The hash is read from the database at every check, never from the
 * server's user cache: a password changed a moment ago on another node counts at once, and with the
 * database away a password login gets no answer (the NAS fails over) rather than one decided on old
 * data. One indexed read costs nothing next to the ~20 ms hash.
 */
export class LocalPasswordFactor implements FirstFactor {
  constructor(private readonly hashes: { currentPasswordHash(userId: bigint): Promise<string | null> }) {}

  async verify(user: UserRecord, password: Buffer | undefined): Promise<boolean> {
    const stored = password && password.length > 0 ? await this.hashes.currentPasswordHash(user.id) : null;
    if (!stored || !password || password.length === 0) {
      await burnPasswordVerification(password); // same cost as a real check
      return false;
    }
    return verifyPassword(stored, password);
  }
}
