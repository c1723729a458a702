import { Attr, Code, type IncomingRequest, type RawAttribute, type Reply, type RequestHandler } from '../radius/types';
import { RateLimitedLog } from '../radius/rate-limited-log';
import { unsupportedProtocol } from './login-protocol';
import { replyMessageAttributes } from './reply-message';
import type { Metrics } from '../obs/metrics';
import type { Logger } from '../obs/logger';
import type { LoginStyle } from '../store/schema';
import { andThen } from '../lang/awaitable';
import type { AuditWriter } from './audit-writer';
import { CHALLENGE_EXPIRED, reject, TOKEN_LOCKED } from './decision';
import type { AuthPipeline, Outcome } from './pipeline';
import type { AuthRequest } from './request';

/** What the server keeps per RADIUS client besides its secret. */
export interface ClientData {
  readonly loginStyle: LoginStyle;
}

export interface HandlerDeps {
  readonly pipeline: Pick<AuthPipeline, 'decide'>;
  readonly audit: Pick<AuditWriter, 'write'>;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  readonly node: string;
  readonly rejectMessage: string;
  /** Of the refusal of a token locked after too many wrong codes; absent: rejectMessage. */
  readonly lockedMessage?: string;
  /** Of the refusal of an answer whose challenge is gone (expired or used); absent: rejectMessage. */
  readonly challengeExpiredMessage?: string;
  /** auth.challengeTtl, in seconds: how long a challenge may be answered, told to the NAS (see sessionTimeout). */
  readonly challengeTtl: number;
}

/** The attribute's value; the RADIUS layer already dropped requests carrying two of any attribute read here. */
function first(attrs: readonly RawAttribute[], type: number): Buffer | undefined {
  for (const a of attrs) if (a.type === type) return a.value;
  return undefined;
}

/** The replies that never vary, built once per handler (every login would otherwise build its own). */
interface FixedReplies {
  readonly accept: Reply;
  readonly reject: Reply;
  readonly locked: Reply;
  readonly expired: Reply;
  /** The Session-Timeout of every Access-Challenge. */
  readonly challengeTimeout: RawAttribute;
}

/**
 * RFC 2865 §5.27: Session-Timeout "sets the maximum number of seconds of service to be provided to the user
 * before termination of the session or prompt", and may be sent in an Access-Challenge: there it is how long
 * the NAS should wait for the user's answer. A challenge can be answered for auth.challengeTtl; a NAS that
 * kept its prompt open longer would take a code only to get it refused as challenge_expired. Whole seconds
 * (a 32-bit integer), rounded down so that the prompt never outlives the challenge; challengeTtl is 1 s at least.
 */
export function sessionTimeout(challengeTtl: number): RawAttribute {
  const value = Buffer.alloc(4);
  value.writeUInt32BE(Math.max(1, Math.floor(challengeTtl)));
  return { type: Attr.SessionTimeout, value };
}

const rejectWith = (message: string): Reply => Object.freeze({ code: Code.AccessReject, attributes: Object.freeze(replyMessageAttributes(message)) });

function fixedReplies(deps: Pick<HandlerDeps, 'rejectMessage' | 'lockedMessage' | 'challengeExpiredMessage' | 'challengeTtl'>): FixedReplies {
  const rejected = rejectWith(deps.rejectMessage);
  const orRejected = (message: string | undefined) => (message === undefined ? rejected : rejectWith(message));
  return {
    accept: Object.freeze({ code: Code.AccessAccept, attributes: Object.freeze([]) }),
    // The same message whatever went wrong: it must not reveal whether the user exists.
    reject: rejected,
    // Except a locked token: that refusal comes only after the first factor passed (the password, or the
    // NAS's own check in otp-only), so it tells nothing to someone without it, while a user shown
    // "Authentication failed" for the right code would go on typing codes instead of waiting or calling.
    locked: orRejected(deps.lockedMessage),
    // And an answer whose challenge is gone: another code typed at the same prompt cannot succeed, the login must
    // start again, and "Authentication failed" read as a wrong code. It tells an outsider nothing: an unknown
    // user's answer, or one with a made-up State, is refused for the same reason (see AuthPipeline.resumeFor).
    expired: orRejected(deps.challengeExpiredMessage),
    challengeTimeout: Object.freeze(sessionTimeout(deps.challengeTtl)),
  };
}

function toReply(outcome: Outcome, fixed: FixedReplies): Reply | null {
  switch (outcome.kind) {
    case 'accept':
      return outcome.replyMessage ? { code: Code.AccessAccept, attributes: replyMessageAttributes(outcome.replyMessage) } : fixed.accept;
    case 'reject':
      return outcome.reason === TOKEN_LOCKED ? fixed.locked : outcome.reason === CHALLENGE_EXPIRED ? fixed.expired : fixed.reject;
    case 'challenge':
      return {
        code: Code.AccessChallenge,
        attributes: [...replyMessageAttributes(outcome.message), { type: Attr.State, value: outcome.state }, fixed.challengeTimeout],
      };
    case 'fail':
    case 'no-answer':
      return null; // the NAS retries or fails over to another server
  }
}

/**
 * RFC 2865 §5.1: User-Name "MUST NOT be NUL (hex 00) terminated", yet some NASes (C strings sent with their
 * terminator) do it. Trailing NULs are dropped, so "alice\0" is alice; a NUL inside the name stays refused.
 */
function withoutTrailingNuls(value: Buffer | undefined): Buffer | undefined {
  if (!value) return value;
  let end = value.length;
  while (end > 0 && value[end - 1] === 0) end--;
  return end === value.length ? value : value.subarray(0, end);
}

const UNSUPPORTED_AUTH_PROTOCOL = 'unsupported_auth_protocol';

/**
 * A gateway left at CHAP, MS-CHAP or EAP (the default of many) has every user rejected, and the audit's reason
 * alone did not reach the admin. A warning names the client and the protocol, at most once a minute per client
 * (any host can send such packets as an allowed client's address is spoofable: see RateLimitedLog).
 */
function notPapWarning(logger: Logger): (req: IncomingRequest<ClientData>) => void {
  const limit = new RateLimitedLog();
  return (req) => {
    const { log, suppressed } = limit.check(req.client.name);
    if (!log) return;
    const protocol = unsupportedProtocol(req.packet.attributes);
    logger.warn(
      { client: req.client.name, clientAddress: req.remote.address, protocol, ...(suppressed > 0 ? { unloggedRepeats: suppressed } : {}) },
      `client ${req.client.name} sent a login without User-Password (${protocol}): radotp checks PAP logins only and rejects it; set the NAS to PAP`,
    );
  };
}

function readRequest(req: IncomingRequest<ClientData>): AuthRequest | { invalid: string; username?: string } {
  const attrs = req.packet.attributes;
  const nameBytes = withoutTrailingNuls(first(attrs, Attr.UserName));
  if (!nameBytes || nameBytes.length === 0) return { invalid: 'no_username' };
  const username = nameBytes.toString('utf8');
  if (username.includes('\uFFFD') || username.includes('\0')) return { invalid: 'bad_username' };
  // PAP only: CHAP/MS-CHAP/EAP cannot be checked against an argon2 hash or a one-time code. For EAP,
  // RFC 2869 §5.13: "A RADIUS Server receiving EAP messages that it does not understand SHOULD return
  // an Access-Reject" (the protocol layer already dropped EAP without Message-Authenticator).
  if (!req.password) return { invalid: UNSUPPORTED_AUTH_PROTOCOL, username };
  const nasId = first(attrs, Attr.NasIdentifier);
  const calling = first(attrs, Attr.CallingStationId);
  return {
    username,
    password: req.password,
    state: first(attrs, Attr.State),
    authenticator: req.packet.authenticator,
    client: { name: req.client.name, address: req.remote.address, loginStyle: req.client.data?.loginStyle ?? 'challenge' },
    nasIdentifier: nasId?.toString('utf8'),
    callingStationId: calling?.toString('utf8'),
  };
}

/** Bridges the protocol layer to the auth pipeline: decode the request, decide, audit, answer. */
export function createRadiusHandler(deps: HandlerDeps): RequestHandler<ClientData> {
  const fixed = fixedReplies(deps);
  const tellNotPap = notPapWarning(deps.logger);
  // Answers at once when the pipeline decided without waiting (see Awaitable); otherwise once it has.
  return (req) => {
    // timed only for the info log line (the server's own histogram times every request)
    const started = deps.logger.isLevelEnabled('info') ? performance.now() : 0;
    const parsed = readRequest(req);
    if ('invalid' in parsed) {
      if (parsed.invalid === UNSUPPORTED_AUTH_PROTOCOL) tellNotPap(req);
      return answer(deps, fixed, req, parsed.username, reject(parsed.invalid), started);
    }
    return andThen(deps.pipeline.decide(parsed), (outcome) => answer(deps, fixed, req, parsed.username, outcome, started));
  };
}

/** Audits and counts a decision, logs it at info, and turns it into the reply (null: stay silent). */
function answer(
  deps: HandlerDeps,
  fixed: FixedReplies,
  req: IncomingRequest<ClientData>,
  username: string | undefined,
  outcome: Outcome,
  started: number,
): Reply | null {
  deps.audit.write({
    at: Date.now(),
    node: deps.node,
    client: req.client.name,
    clientAddress: req.remote.address,
    username,
    result: outcome.kind,
    reason: outcome.reason,
    method: outcome.method,
    tokenSerial: outcome.tokenSerial,
  });
  deps.metrics?.countDecision(outcome.kind, outcome.reason);
  // shed by the bounded password-check queue: a drop like any other, for whoever watches radotp_dropped_total
  if (outcome.kind === 'fail' && outcome.reason === 'overload') deps.metrics?.drops.inc({ reason: 'overload' });
  if (deps.logger.isLevelEnabled('info')) {
    const line = {
      event: 'auth',
      client: req.client.name,
      clientAddress: req.remote.address,
      user: username,
      result: outcome.kind,
      reason: outcome.reason,
      method: outcome.method,
      token: outcome.tokenSerial,
      ms: Math.round((performance.now() - started) * 100) / 100,
    };
    deps.logger.info(line, 'auth decision');
  }
  return toReply(outcome, fixed);
}
