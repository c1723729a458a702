import type { UserRecord } from '../store/users';
import { burnPasswordVerification, verifyPassword } from './password-hash';

/** The first factor: does this password belong to this user? (local argon2id now; LDAP bind later) */
export interface FirstFactor {
  verify(user: UserRecord, password: Buffer | undefined): Promise<boolean>;
}

export class LocalPasswordFactor implements FirstFactor {
  async verify(user: UserRecord, password: Buffer | undefined): Promise<boolean> {
    if (!user.passwordHash || !password || password.length === 0) {
      await burnPasswordVerification(password); // same cost as a real check
      return false;
    }
    return verifyPassword(user.passwordHash, password);
  }
}
