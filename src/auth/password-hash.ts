import { hash, verify } from '@node-rs/argon2';

/**
 * argon2id with @node-rs/argon2's OWASP defaults (m=19 MiB, t=2, p=1). `verify` runs on the libuv
 * thread pool, so hashing never blocks the event loop: Status-Server and malformed packets are still
 * handled within milliseconds while a flood of PAP requests is being hashed.
 */
const ARGON2ID = 2; // @node-rs/argon2 Algorithm.Argon2id (a const enum upstream, so not importable with isolatedModules)

export function hashPassword(password: string | Buffer): Promise<string> {
  return hash(password, { algorithm: ARGON2ID });
}

export async function verifyPassword(stored: string, password: Buffer): Promise<boolean> {
  try {
    return await verify(stored, password);
  } catch {
    return false; // a malformed stored hash is a mismatch, not a crash
  }
}

let dummyHash: Promise<string> | undefined;

/**
 * Unknown users (and users without a local password) cost the same time as known ones: we verify
 * against a fixed dummy hash, so response timing does not reveal whether a user exists.
 */
export async function burnPasswordVerification(password: Buffer | undefined): Promise<void> {
  dummyHash ??= hashPassword('radotp-dummy-password-for-timing');
  await verifyPassword(await dummyHash, password ?? Buffer.alloc(0));
}
