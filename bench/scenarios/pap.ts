import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashPassword } from '../../src/auth/password-hash';
import { log, pool } from '../lib/util';
import type { BenchContext, Scenario } from './types';

const USERS = 200;
const PASSWORD = 'bench-pap-Secret-1';

/**
 * PAP against a local argon2id hash. All users share one hash (hashed once): verification cost, which is
 * what is measured, does not depend on which user it is.
 */
export const papScenario: Scenario = {
  name: 'pap',
  title: 'PAP, local password (radotp: argon2id; FreeRADIUS: Cleartext-Password)',
  loginStyle: 'challenge', // the password method ignores the login style
  unavailable: () => undefined,
  async provision(ctx: BenchContext) {
    const hash = await hashPassword(PASSWORD);
    const names = Array.from({ length: USERS }, (_, i) => `pap${String(i + 1).padStart(5, '0')}`);
    await pool(names, 8, async (username) => {
      await ctx.store.users.add({ username, passwordHash: hash, method: 'password' });
    });
    writeFileSync(join(ctx.workDir, 'users-pap.txt'), names.map((n) => `${n} ${PASSWORD}`).join('\n') + '\n');
    log(`pap: ${USERS} users with one argon2id hash`);
  },
  radotpLoad(ctx) {
    return {
      usersFile: join(ctx.workDir, 'users-pap.txt'),
      concurrency: ctx.opts.concurrency,
      count: ctx.opts.papCount,
      warmup: Math.min(ctx.opts.concurrency, 64),
      duration: ctx.opts.duration,
      // 64 outstanding at ~100/s means ~0.6 s in the queue: the default 1 s timeout would retransmit.
      timeoutMs: 5000,
    };
  },
  freeradiusLoad(ctx) {
    return {
      usersFile: ctx.anchor.usersFile('pap'),
      concurrency: ctx.opts.concurrency,
      count: ctx.opts.frCount,
      warmup: ctx.opts.frWarmup,
      duration: ctx.opts.duration,
    };
  },
};

export const PAP_USERS_FILE = 'users-pap.txt';
