import { hash, verify } from '@node-rs/argon2';

/**
 * argon2id with @node-rs/argon2's OWASP defaults (m=19 MiB, t=2, p=1). `verify` runs on the libuv
 * thread pool, so hashing never blocks the event loop: Status-Server and malformed packets are still
 * handled within milliseconds while a flood of PAP requests is being hashed.
 */
const ARGON2ID = 2; // @node-rs/argon2 Algorithm.Argon2id (a const enum upstream, so not importable with isolatedModules)

/** Thrown when more password checks are waiting than can finish before a NAS gives up: shed, don't queue. */
export class PasswordQueueFull extends Error {
  override name = 'PasswordQueueFull';
}

/**
 * Bounds the password checks in flight and waiting. A check costs ~20 ms of a pool thread; a queue of
 * thousands would answer long after every NAS timed out (and retried, adding more). Beyond the bound
 * a request is dropped without an answer, so the NAS retries later or fails over.
 */
class HashGate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(
    private concurrency: number,
    private maxQueued: number,
  ) {}

  configure(maxQueued: number): void {
    this.maxQueued = maxQueued;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxQueued) throw new PasswordQueueFull('too many password checks waiting');
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.running++;
    try {
      return await fn();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}

const poolSize = Number(process.env.UV_THREADPOOL_SIZE) || 4;
const gate = new HashGate(poolSize, 64);

/** Sets how many password checks may wait for a thread (config `auth.maxQueuedPasswordChecks`). */
export function setPasswordQueueLimit(maxQueued: number): void {
  gate.configure(maxQueued);
}

export function hashPassword(password: string | Buffer): Promise<string> {
  return hash(password, { algorithm: ARGON2ID });
}

export async function verifyPassword(stored: string, password: Buffer): Promise<boolean> {
  return gate.run(async () => {
    try {
      return await verify(stored, password);
    } catch {
      return false; // a malformed stored hash is a mismatch, not a crash
    }
  });
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
