import { createRadiusHandler } from '../../src/auth/radius-handler';
import { accept, challenge, reject } from '../../src/auth/decision';
import type { AuthRequest } from '../../src/auth/request';
import { createLogger } from '../../src/obs/logger';
import { Attr, Code, type RawAttribute } from '../../src/radius/types';
import { handlerRequest } from '../support/handler-request';

/*
 * What the handler makes of a request's User-Name before any decision: the name the pipeline sees, or the
 * reason it is refused without one. RFC 2865 §5.1 forbids a NUL-terminated User-Name, but NASes sending C
 * strings with their terminator exist; trailing NULs are dropped, a NUL inside a name is refused.
 */
const cases: { name: string; userName?: Buffer; decided?: string; refused?: string }[] = [
  { name: 'a plain name', userName: Buffer.from('alice'), decided: 'alice' },
  { name: 'a UTF-8 name', userName: Buffer.from('zoë'), decided: 'zoë' },
  { name: 'a name with its C terminator', userName: Buffer.from('alice\0'), decided: 'alice' },
  { name: 'a name padded with NULs', userName: Buffer.from('alice\0\0\0'), decided: 'alice' },
  { name: 'a NUL inside the name', userName: Buffer.from('ali\0ce'), refused: 'bad_username' },
  { name: 'a NUL inside and one at the end', userName: Buffer.from('ali\0ce\0'), refused: 'bad_username' },
  { name: 'invalid UTF-8', userName: Buffer.from([0x61, 0xff, 0x62]), refused: 'bad_username' },
  { name: 'only NULs', userName: Buffer.from([0, 0]), refused: 'no_username' },
  { name: 'an empty User-Name', userName: Buffer.alloc(0), refused: 'no_username' },
  { name: 'no User-Name', refused: 'no_username' },
];

describe.each(cases)('$name', ({ userName, decided, refused }) => {
  test(decided !== undefined ? `reaches the decision as ${JSON.stringify(decided)}` : `is refused (${refused}) without a decision`, async () => {
    const seen: AuthRequest[] = [];
    const audited: { username?: string; reason?: string }[] = [];
    const handler = createRadiusHandler({
      pipeline: { decide: (req) => (seen.push(req), accept('test')) },
      audit: { write: (e) => audited.push(e) },
      logger: createLogger('silent'),
      challengeTtl: 120,
      node: 'n1',
      rejectMessage: 'no',
    });
    const attributes: RawAttribute[] = userName ? [{ type: Attr.UserName, value: userName }] : [];
    const reply = await handler(handlerRequest({ loginStyle: 'otp-only', password: '123456', attributes }));
    if (decided !== undefined) {
      expect(seen.map((r) => r.username)).toEqual([decided]);
      expect(reply?.code).toBe(Code.AccessAccept);
    } else {
      expect(seen).toEqual([]);
      expect(reply?.code).toBe(Code.AccessReject);
      expect(audited.map((a) => a.reason)).toEqual([refused]);
    }
  });
});

/*
 * The Reply-Message of each refusal. One message for every refusal, so that none tells an outsider whether a
 * user exists or which factor was wrong, except a token locked after too many wrong codes: that refusal
 * only comes after the first factor passed (the password in the challenge and append styles, the NAS's own
 * check in otp-only), so it tells nothing to someone without it, and a user seeing "Authentication failed"
 * for their right code would go on typing codes (multiOTP #218). A locked password stays anonymous: anyone
 * can type any password for any name.
 */
const refusals: { reason: string; shown: string }[] = [
  { reason: 'locked', shown: 'your token is locked' },
  // an answer whose challenge is gone (auth.challengeTtl ran out, or it was answered already): typing another
  // code into the same prompt cannot succeed, the user must start the login again. Told for any user name,
  // known or not (an unknown user's answer is challenge_expired too), so it tells an outsider nothing.
  { reason: 'challenge_expired', shown: 'start again' },
  { reason: 'challenge_user_mismatch', shown: 'no' },
  { reason: 'bad_code', shown: 'no' },
  { reason: 'replay', shown: 'no' },
  { reason: 'password_locked', shown: 'no' },
  { reason: 'bad_password', shown: 'no' },
  { reason: 'unknown_user', shown: 'no' },
];

test.each(refusals)('an Access-Reject for $reason shows "$shown"', async ({ reason, shown }) => {
  const handler = createRadiusHandler({
    pipeline: { decide: () => reject(reason) },
    audit: { write: () => undefined },
    logger: createLogger('silent'),
    challengeTtl: 120,
    node: 'n1',
    rejectMessage: 'no',
    lockedMessage: 'your token is locked',
    challengeExpiredMessage: 'start again',
  });
  const reply = await handler(handlerRequest({ loginStyle: 'otp-only', password: '123456' }));
  expect(reply?.code).toBe(Code.AccessReject);
  expect(reply?.attributes.filter((a) => a.type === Attr.ReplyMessage).map((a) => a.value.toString('utf8'))).toEqual([shown]);
});

/*
 * A gateway left at CHAP, MS-CHAP or EAP (many default to one) gets an Access-Reject for every user, and before
 * this the only trace was an info line per login. The admin is told once a minute per client which protocol it
 * sent and what to change, as FreeRADIUS says "No Auth-Type found: rejecting the user"; nothing of the packet's
 * secrets is logged. [what the request carries besides User-Name, the protocol named]
 */
const microsoft = (type: number) => ({ type: Attr.VendorSpecific, value: Buffer.concat([Buffer.from([0, 0, 1, 55, type, 18]), Buffer.alloc(16, 7)]) });
const protocols: [string, RawAttribute[], string][] = [
  ['CHAP-Password', [{ type: Attr.ChapPassword, value: Buffer.alloc(17, 9) }], 'CHAP'],
  ['MS-CHAP2-Response', [microsoft(25)], 'MS-CHAP'],
  ['MS-CHAP-Response', [microsoft(1)], 'MS-CHAP'],
  ['EAP-Message', [{ type: Attr.EapMessage, value: Buffer.from([2, 1, 0, 5, 1]) }], 'EAP'],
  ['no password at all', [], 'no password'],
];

test.each(protocols)('a login with %s is rejected and the admin told, once a minute per client, to set the NAS to PAP', async (_what, extra, named) => {
  const lines: { client?: string; protocol?: string; msg: string; level: number }[] = [];
  const destination = { write: (line: string) => void lines.push(JSON.parse(line)) };
  const handler = createRadiusHandler({
    pipeline: { decide: () => accept('test') },
    audit: { write: () => undefined },
    logger: createLogger('warn', { destination }),
    challengeTtl: 120,
    node: 'n1',
    rejectMessage: 'no',
  });
  const request = (client: string) => handlerRequest({ loginStyle: 'challenge', client, attributes: [{ type: Attr.UserName, value: Buffer.from('alice') }, ...extra] });
  for (const client of ['vpn-1', 'vpn-1', 'vpn-1', 'vpn-2']) expect((await handler(request(client)))?.code).toBe(Code.AccessReject);
  expect(lines.map((l) => [l.level, l.client, l.protocol])).toEqual([
    [40, 'vpn-1', named],
    [40, 'vpn-2', named],
  ]);
  expect(lines[0]!.msg).toMatch(/PAP/);
});

/*
 * RFC 2865 §5.27: in an Access-Challenge, Session-Timeout is how long the NAS waits for the answer. It is
 * auth.challengeTtl in whole seconds, rounded down: a prompt that outlived its challenge would take a code only
 * for it to be refused as challenge_expired.
 */
const timeouts: [challengeTtl: number, sessionTimeout: number][] = [
  [120, 120],
  [1, 1],
  [1.5, 1],
  [59.999, 59],
  [3600, 3600],
];

test.each(timeouts)('auth.challengeTtl %p: every Access-Challenge carries Session-Timeout %p, once, as 4 octets', async (challengeTtl, expected) => {
  const handler = createRadiusHandler({
    pipeline: { decide: () => challenge('password_ok', 'Code?', Buffer.from('rotp0123456789abcdef')) },
    audit: { write: () => undefined },
    logger: createLogger('silent'),
    challengeTtl,
    node: 'n1',
    rejectMessage: 'no',
  });
  const reply = (await handler(handlerRequest({ loginStyle: 'challenge', password: 'pw' })))!;
  expect(reply.code).toBe(Code.AccessChallenge);
  const found = reply.attributes.filter((a: RawAttribute) => a.type === Attr.SessionTimeout);
  expect(found.map((a) => [a.value.length, a.value.readUInt32BE(0)])).toEqual([[4, expected]]);
});
