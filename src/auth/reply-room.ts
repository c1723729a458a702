import { replyMessageAttributes } from './reply-message';

/** What the handler's replies can carry (see toReply in radius-handler.ts). */
export interface ReplyTexts {
  readonly rejectMessage: string;
  /** Absent: a locked token gets rejectMessage. */
  readonly lockedMessage?: string;
  /** Absent: an answer whose challenge is gone gets rejectMessage. */
  readonly challengeExpiredMessage?: string;
  /** Every prompt an Access-Challenge can carry, at its longest (TokenMethod's longestChallengePrompts). */
  readonly challengePrompts: readonly string[];
  /** The octets of a challenge's State value. */
  readonly stateLength: number;
}

/** A challenge's Session-Timeout (RFC 2865 §5.27): type, length and a 4-octet integer (see sessionTimeout). */
const SESSION_TIMEOUT_OCTETS = 2 + 4;

/** The octets `text` takes as Reply-Message attributes (RFC 2865 §5.18), each with its type and length octets. */
function replyMessageOctets(text: string): number {
  return replyMessageAttributes(text).reduce((n, a) => n + 2 + a.value.length, 0);
}

/**
 * The most octets the handler's own attributes can take in a reply: the longest refusal, or the longest
 * prompt with its State (RFC 2865 §5.24) and Session-Timeout (§5.27), whichever is more. An accept carries
 * none. The RADIUS server refuses, before deciding, a request whose Proxy-State leaves less room
 * (RadiusServerOptions.maxReplyAttributesLength).
 */
export function largestReplyAttributesLength(texts: ReplyTexts): number {
  const refusals = [texts.rejectMessage, texts.lockedMessage ?? texts.rejectMessage, texts.challengeExpiredMessage ?? texts.rejectMessage].map(replyMessageOctets);
  const challenges = texts.challengePrompts.map((prompt) => replyMessageOctets(prompt) + 2 + texts.stateLength + SESSION_TIMEOUT_OCTETS);
  return Math.max(0, ...refusals, ...challenges);
}
