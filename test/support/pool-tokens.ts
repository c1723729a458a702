import { randomBytes, randomInt } from 'node:crypto';
import { verifierSettings } from '../../src/app/pipeline';
import { TokenVerifier } from '../../src/auth/token-verifier';
import { TokenAdmin } from '../../src/tokens/admin';
import { randomSerial } from './pskc-fixtures';
import type { TestServer } from './server';

/*
 * Hardware tokens put straight into the pool through the admin store (as `token import` leaves them:
 * unassigned, origin hardware), for tests about what happens AFTER an import. The secret is kept so
 * tests can compute the codes the device would show.
 */

export interface PoolToken {
  readonly serial: string;
  readonly secret: Buffer;
  /** HOTP/OCRA: the counter the token starts at. */
  readonly counter: bigint;
}

type Kind = { kind: 'hotp' } | { kind: 'totp'; period?: number } | { kind: 'ocra'; suite: string };

export async function addPoolToken(t: Pick<TestServer, 'store'>, k: Kind & { counter?: bigint; digits?: number; validTo?: Date }): Promise<PoolToken> {
  const serial = randomSerial('P');
  const secret = randomBytes(20);
  const counter = k.counter ?? BigInt(randomInt(1000, 100_000));
  await t.store.tokens.create({
    serial,
    userId: null,
    origin: 'hardware',
    kind: k.kind,
    state: 'unassigned',
    algorithm: 'sha1',
    digits: k.digits ?? 6,
    period: k.kind === 'totp' ? (k.period ?? 30) : undefined,
    ocraSuite: k.kind === 'ocra' ? k.suite : undefined,
    seed: secret,
    counter,
    validTo: k.validTo ?? null,
  });
  return { serial, secret, counter };
}

/** The same TokenAdmin the CLI builds, for setting up states quickly in-process. */
export function adminOf(t: Pick<TestServer, 'store' | 'cfg'>): TokenAdmin {
  return new TokenAdmin(t.store, new TokenVerifier(t.store.tokens, t.store.keys, verifierSettings(t.cfg)), { pendingTokenTtl: t.cfg.auth.pendingTokenTtl });
}
