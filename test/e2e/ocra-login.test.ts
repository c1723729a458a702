import { randomBytes, randomInt } from 'node:crypto';
import { ocra, ocraTimestamp, parseOcraSuite, type OcraSuite } from '../../src/otp';
import { wrongCode } from '../support/otp-codes';
import { cliFor, newTokenUser, ok, type Cli } from '../support/pool-cli';
import { DSIG, ocraKey, writePskcFile, XMLENC, type GeneratedKey } from '../support/pskc-fixtures';
import { startTestServer, type TestServer } from '../support/server';
import { radclientDriver, udpDriver, type LoginDriver, type Step } from '../support/two-step-login';

/*
 * OCRA (RFC 6287) challenge-response through RADIUS: an OCRA token imported from a PSKC file, the
 * password answered with an Access-Challenge whose Reply-Message carries a fresh numeric challenge,
 * the response computed with ocra() as the device would, then Access-Accept. Wrong responses and
 * replays are refused — for plain, counter-based and time-based suites.
 */

const CHALLENGE_MESSAGE = /^Challenge: (\d{8})\. Enter it into your token and type the response$/;

let t: TestServer;
let cli: Cli;
let radclient: LoginDriver;
let udp: LoginDriver;
beforeAll(async () => {
  t = await startTestServer();
  cli = cliFor(t);
  radclient = radclientDriver(t.port);
  udp = udpDriver(t.port);
});
afterAll(() => t?.close());

interface Device {
  readonly suite: OcraSuite;
  readonly key: GeneratedKey;
  /** The counter the device will use next (counter suites). */
  counter: bigint;
}

/** What the device computes for `question` now (counter suites: its next counter, then moves on). */
function respond(d: Device, question: string, at: { counter?: bigint; timestamp?: bigint } = {}): string {
  const counter = d.suite.counter ? (at.counter ?? d.counter++) : undefined;
  const timestamp = d.suite.timeStepSeconds ? (at.timestamp ?? ocraTimestamp(d.suite, Date.now() / 1000)) : undefined;
  return ocra(d.suite, d.key.secret, { question, counter, timestamp });
}

/** Imports one OCRA key from an AES-CBC + HMAC protected PSKC file and hands it to a new user. */
async function deviceFor(suiteText: string): Promise<{ device: Device; user: { username: string; password: string } }> {
  const psk = randomBytes(16);
  const key = ocraKey(suiteText, { counter: BigInt(randomInt(1000)) });
  const file = writePskcFile(t.dir, [key], { kind: 'psk', key: psk, algorithm: `${XMLENC}aes128-cbc`, mac: { algorithm: `${DSIG}hmac-sha1`, key: randomBytes(20) } });
  expect(await ok(cli, ['token', 'import', file, '--psk', psk.toString('hex')])).toBe('imported 1 token(s) (1 ocra) into the pool\n');
  const user = await newTokenUser(t, 'ocra');
  await ok(cli, ['token', 'assign', key.serial, user.username]);
  return { device: { suite: parseOcraSuite(suiteText), key, counter: key.counter! }, user };
}

/** The password step: must be a challenge whose Reply-Message shows an 8-digit question. */
async function challenged(driver: LoginDriver, user: { username: string; password: string }): Promise<{ step: Step; question: string }> {
  const step = await driver.send(user);
  expect(step.reply).toBe('Access-Challenge');
  expect(step.message).toMatch(CHALLENGE_MESSAGE);
  return { step, question: CHALLENGE_MESSAGE.exec(step.message!)![1] };
}

const answer = (driver: LoginDriver, user: { username: string }, step: Step, response: string) =>
  driver.send({ username: user.username, password: response, state: step.state }).then((s) => s.reply);

const SUITES = ['OCRA-1:HOTP-SHA1-6:QN08', 'OCRA-1:HOTP-SHA1-6:C-QN08', 'OCRA-1:HOTP-SHA256-8:QN08-T1M'];

describe.each(SUITES)('%s', (suiteText) => {
  let device: Device;
  let user: { username: string; password: string };
  // A fresh device per test: a time suite accepts one login per time step (the one-use rule), so
  // tests sharing a device within the same minute would refuse each other.
  beforeEach(async () => {
    ({ device, user } = await deviceFor(suiteText));
  });

  test('radclient: password → challenge in Reply-Message → ocra() response → Access-Accept; the same answer again is refused', async () => {
    const { step, question } = await challenged(radclient, user);
    const response = respond(device, question);
    expect(response).toHaveLength(device.suite.digits);
    expect(await answer(radclient, user, step, response)).toBe('Access-Accept');
    expect(await answer(radclient, user, step, response)).toBe('Access-Reject');
  });

  test('each login gets a fresh challenge; the previous response does not answer it', async () => {
    const first = await challenged(udp, user);
    const firstResponse = respond(device, first.question);
    expect(await answer(udp, user, first.step, firstResponse)).toBe('Access-Accept');
    const second = await challenged(udp, user);
    expect(second.question).not.toBe(first.question);
    expect(await answer(udp, user, second.step, firstResponse)).toBe('Access-Reject');
  });

  test('a wrong response is refused', async () => {
    const { step, question } = await challenged(udp, user);
    // Exclude what the device would answer for any counter/time the server might try.
    const plausible = [0n, 1n, 2n].flatMap((c) => {
      const ts = device.suite.timeStepSeconds ? ocraTimestamp(device.suite, Date.now() / 1000) : undefined;
      return [-1n, 0n, 1n].map((d) => ocra(device.suite, device.key.secret, { question, counter: device.suite.counter ? device.counter + c : undefined, timestamp: ts === undefined ? undefined : ts + d }));
    });
    expect(await answer(udp, user, step, wrongCode(plausible, device.suite.digits))).toBe('Access-Reject');
  });

  test('a challenge answered for another question is refused', async () => {
    const { step, question } = await challenged(udp, user);
    const other = String((Number(question) + 1) % 1e8).padStart(8, '0');
    expect(await answer(udp, user, step, respond(device, other, { counter: device.counter }))).toBe('Access-Reject');
  });
});

describe('replay protection beyond the challenge', () => {
  test('counter suite: a response computed with a spent counter is refused, the next counter works', async () => {
    const { device, user } = await deviceFor('OCRA-1:HOTP-SHA1-6:C-QN08');
    const first = await challenged(udp, user);
    const spent = device.counter;
    expect(await answer(udp, user, first.step, respond(device, first.question))).toBe('Access-Accept');
    const second = await challenged(udp, user);
    expect(await answer(udp, user, second.step, respond(device, second.question, { counter: spent }))).toBe('Access-Reject');
    const third = await challenged(udp, user);
    expect(await answer(udp, user, third.step, respond(device, third.question))).toBe('Access-Accept');
    expect((await t.store.tokens.get(device.key.serial)).nextCounter).toBe(spent + 2n);
  });

  // The challenge is single-use, so a time suite needs no per-step spend: two logins within one minute
  // each answer their own fresh challenge, while the first response can never be used again.
  test('time suite: each fresh challenge may be answered within the same time step; an answer is never reusable', async () => {
    const { device, user } = await deviceFor('OCRA-1:HOTP-SHA256-8:QN08-T1M');
    const first = await challenged(udp, user);
    const timestamp = ocraTimestamp(device.suite, Date.now() / 1000);
    const firstResponse = respond(device, first.question, { timestamp });
    expect(await answer(udp, user, first.step, firstResponse)).toBe('Access-Accept');
    const second = await challenged(udp, user);
    expect(await answer(udp, user, second.step, respond(device, second.question, { timestamp }))).toBe('Access-Accept');
    const third = await challenged(udp, user);
    expect(await answer(udp, user, third.step, firstResponse)).toBe('Access-Reject');
  });
});
