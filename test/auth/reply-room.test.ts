import { CHALLENGE_EXPIRED, TOKEN_LOCKED, accept, challenge, reject, type Decision } from '../../src/auth/decision';
import { TokenMethod, longestChallengePrompts } from '../../src/auth/methods/token';
import { createRadiusHandler } from '../../src/auth/radius-handler';
import { largestReplyAttributesLength } from '../../src/auth/reply-room';
import { createLogger } from '../../src/obs/logger';
import type { Reply } from '../../src/radius/types';
import { handlerRequest } from '../support/handler-request';
import { CHALLENGE_STATE_LENGTH } from '../../src/store/challenges';
import type { LoginToken } from '../../src/store/tokens';
import type { UserRecord } from '../../src/store/users';

/*
 * The room a reply needs (RadiusServerOptions.maxReplyAttributesLength): the largest of the replies the handler
 * makes, with the configured messages (split into Reply-Messages of at most 253 octets) and the State of a
 * challenge. Too small, and a request is decided whose reply cannot be sent; the server drops a request with
 * Proxy-State leaving less room before it is decided.
 */
const octetsOf = (reply: Reply | null): number => (reply?.attributes ?? []).reduce((n, a) => n + 2 + a.value.length, 0);

// [config, rejectMessage, lockedMessage, challengeExpiredMessage, challengeMessage]
const configs: [string, string, string | undefined, string | undefined, string][] = [
  [
    'the defaults',
    'Authentication failed',
    'Too many wrong codes: your token is locked for a while. Try again later, or ask your helpdesk to unlock it',
    'This login has expired: please log in again',
    'Enter the code from your authenticator',
  ],
  ['a rejectMessage of 253 octets', 'a'.repeat(253), undefined, undefined, 'Code?'],
  ['a lockedMessage of two-octet characters over two attributes', 'no', 'é'.repeat(127), 'gone', 'Code?'],
  ['a challengeExpiredMessage of two-octet characters over two attributes', 'no', 'locked', 'ü'.repeat(140), 'Code?'],
  ['a challengeMessage of 200 characters of three octets', 'no', 'locked', 'gone', '€'.repeat(200)],
];

describe.each(configs)('%s', (_config, rejectMessage, lockedMessage, challengeExpiredMessage, challengeMessage) => {
  const state = Buffer.alloc(CHALLENGE_STATE_LENGTH);
  const outcomes: Decision[] = [
    accept('code_ok'),
    reject('bad_password'),
    { kind: 'reject', reason: TOKEN_LOCKED },
    { kind: 'reject', reason: CHALLENGE_EXPIRED },
    ...longestChallengePrompts(challengeMessage).map((prompt) => challenge('password_ok', prompt, state)),
  ];
  const replies = outcomes.map((outcome) => {
    const handler = createRadiusHandler({
      pipeline: { decide: () => ({ ...outcome, method: 'token' }) },
      audit: { write: () => {} },
      logger: createLogger('silent'),
      challengeTtl: 120,
      node: 'n1',
      rejectMessage,
      lockedMessage,
      challengeExpiredMessage,
    });
    return handler(handlerRequest({ loginStyle: 'challenge', password: 'pw' })) as Reply | null;
  });

  test('is the largest reply the handler makes', () => {
    const room = largestReplyAttributesLength({ rejectMessage, lockedMessage, challengeExpiredMessage, challengePrompts: longestChallengePrompts(challengeMessage), stateLength: CHALLENGE_STATE_LENGTH });
    expect(room).toBe(Math.max(...replies.map(octetsOf)));
  });
});

test("an OCRA token's challenge, asking the longest question a suite can (QA64), is no longer than the longest prompt", async () => {
  const ocraToken = { id: 1n, serial: 'OC64', kind: 'ocra', digits: 8, ocraSuite: 'OCRA-1:HOTP-SHA256-8:QA64' } as LoginToken;
  const user = { id: 1n, username: 'ria', passwordHash: null, method: 'token', createdAt: new Date(0), updatedAt: new Date(0) } as UserRecord;
  const method = new TokenMethod(
    { check: async () => ({ result: 'mismatch' }), burn: async () => {} },
    { usableForUser: () => [ocraToken], hasDisabledToken: async () => false },
    { issue: async () => Buffer.alloc(CHALLENGE_STATE_LENGTH) },
    { check: () => ({ result: 'bad_code' }), retransmission: async () => undefined },
    { allowUsersWithoutToken: false, challengeTtl: 120, challengeMessage: 'Code?', node: 'n1', codeLengthsInUse: () => [], codeLengthsNow: async () => [] },
  );
  const outcome = await method.start({ user, request: { username: 'ria', password: Buffer.from('x'), client: { name: 'nas', address: '127.0.0.1', loginStyle: 'otp-only' } } });
  expect(outcome.kind).toBe('challenge');
  const longest = Math.max(...longestChallengePrompts('Code?').map((p) => Buffer.byteLength(p)));
  expect(Buffer.byteLength((outcome as { message: string }).message)).toBe(longest);
});
