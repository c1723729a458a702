/**
 * What the auth layer decides about one Access-Request. A value, never a boolean:
 * - accept / reject / challenge are answered;
 * - fail means "could not decide" (e.g. the database is down): nothing is sent, so the NAS retries
 *   or fails over to another server, and a database outage never turns into a Reject;
 * - no-answer means "deliberately silent" (e.g. a request we will not process).
 */
export type Decision =
  | { readonly kind: 'accept'; readonly reason: string; readonly replyMessage?: string }
  | { readonly kind: 'reject'; readonly reason: string }
  | { readonly kind: 'challenge'; readonly reason: string; readonly message: string; readonly state: Buffer }
  | { readonly kind: 'fail'; readonly reason: string }
  | { readonly kind: 'no-answer'; readonly reason: string };

export type DecisionKind = Decision['kind'];

/**
 * The reason of a refusal by a token locked after too many wrong codes (auth.lockout). Named here because
 * the RADIUS handler answers it with its own Reply-Message (auth.lockedMessage).
 */
export const TOKEN_LOCKED = 'locked';

/**
 * The reason of a refusal of an answer whose challenge is gone: auth.challengeTtl ran out, or it was answered
 * already (a NAS sending the answer again re-encoded, a user going back to the prompt). Named here because the
 * RADIUS handler answers it with its own Reply-Message (auth.challengeExpiredMessage).
 */
export const CHALLENGE_EXPIRED = 'challenge_expired';

export const accept = (reason: string, replyMessage?: string): Decision => ({ kind: 'accept', reason, replyMessage });
export const reject = (reason: string): Decision => ({ kind: 'reject', reason });
export const fail = (reason: string): Decision => ({ kind: 'fail', reason });
export const challenge = (reason: string, message: string, state: Buffer): Decision => ({ kind: 'challenge', reason, message, state });
