import { Attr, Code } from '../../src/radius/types';
import { radclient } from './radclient';
import { attr, authenticate } from './radius-client';
import { TEST_SECRET } from './server';

/*
 * The "challenge" login style end to end: password → Access-Challenge (State, Reply-Message) → code
 * with the State. Two interchangeable drivers: FreeRADIUS's radclient (the interop oracle) and the
 * in-process test client (faster, for tests that log in many times).
 */

export type Reply = 'Access-Accept' | 'Access-Reject' | 'Access-Challenge' | null;

export interface Step {
  readonly reply: Reply;
  readonly state?: Buffer;
  readonly message?: string;
}

export interface LoginDriver {
  readonly name: string;
  send(p: { username: string; password: string; state?: Buffer }): Promise<Step>;
}

const CODE_NAMES: Record<number, Reply> = {
  [Code.AccessAccept]: 'Access-Accept',
  [Code.AccessReject]: 'Access-Reject',
  [Code.AccessChallenge]: 'Access-Challenge',
};

export function udpDriver(port: number, secret = TEST_SECRET): LoginDriver {
  return {
    name: 'test client',
    async send(p) {
      const a = await authenticate(port, { ...p, secret });
      if (!a) return { reply: null };
      return { reply: CODE_NAMES[a.code] ?? null, state: attr(a, Attr.State), message: attr(a, Attr.ReplyMessage)?.toString('utf8') };
    },
  };
}

/** radclient reads `Attr = value` pairs; a double-quoted string must escape `"` and `\`. */
function quoted(text: string): string {
  return `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

export function radclientDriver(port: number, secret = TEST_SECRET): LoginDriver {
  return {
    name: 'radclient',
    async send(p) {
      let pairs = `User-Name=${quoted(p.username)},User-Password=${quoted(p.password)},Message-Authenticator=0x00`;
      if (p.state) pairs += `,State=0x${p.state.toString('hex')}`;
      const r = await radclient({ port, secret, pairs });
      const state = /\bState = 0x([0-9a-f]+)/.exec(r.output)?.[1];
      const message = /Reply-Message = "((?:[^"\\]|\\.)*)"/.exec(r.output)?.[1];
      return { reply: r.reply as Reply, state: state ? Buffer.from(state, 'hex') : undefined, message };
    },
  };
}

export interface LoginResult {
  /** What the password step got (an Access-Challenge when all is well). */
  readonly first: Step;
  /** What the code step got, or null when the password step did not challenge. */
  readonly second: Step | null;
  readonly reply: Reply;
}

/**
 * Password, then the code. `code` may be a function of the challenge's Reply-Message (OCRA: the
 * response depends on the challenge shown).
 */
export async function login(driver: LoginDriver, username: string, password: string, code: string | ((message: string) => string)): Promise<LoginResult> {
  const first = await driver.send({ username, password });
  if (first.reply !== 'Access-Challenge' || !first.state) return { first, second: null, reply: first.reply };
  const typed = typeof code === 'string' ? code : code(first.message ?? '');
  const second = await driver.send({ username, password: typed, state: first.state });
  return { first, second, reply: second.reply };
}
