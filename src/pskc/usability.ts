import { policyAllows } from './policy';
import { shown } from './shown';
import type { PskcKey } from './types';

/**
 * Whether an imported key may be used for OTP verification at all, and if not why.
 * Time-dependent validity (not yet started) is left to `mayUseKey`; an expired key is
 * reported here because importing it would only create a dead token.
 */
export function judgeKey(key: Omit<PskcKey, 'usable' | 'unusableReason'>, problem: string | undefined, now: Date): Pick<PskcKey, 'usable' | 'unusableReason'> {
  const reasons: string[] = [];
  if (key.kind === 'unsupported') reasons.push(`algorithm ${shown(key.algorithm ?? '(none)')} is not HOTP, TOTP or OCRA`);
  if (problem) reasons.push(problem);
  if (key.policy.unknownElements.length > 0) {
    // RFC 6030 §5: "the key MUST NOT be used" when a policy element is not understood.
    reasons.push(`unknown policy elements (${key.policy.unknownElements.map(shown).join(', ')}): RFC 6030 §5 forbids using the key`);
  }
  if (key.secret === undefined || key.secret.length === 0) reasons.push('the file carries no secret for this key');
  const usages = key.policy.keyUsage;
  if (usages.length > 0 && !usages.includes('OTP') && !usages.includes('CR')) {
    reasons.push(`key usage ${usages.join(', ')} allows neither OTP nor CR`);
  }
  if (key.expiry && key.expiry.getTime() < now.getTime()) reasons.push(`expired on ${key.expiry.toISOString()}`);
  return reasons.length ? { usable: false, unusableReason: reasons.join('; ') } : { usable: true };
}

/**
 * RFC 6030 §5 at a given time: policy (unknown elements, KeyUsage, Start/ExpiryDate)
 * and the device validity dates must all allow `usage` ('OTP', 'CR', ...).
 */
export function mayUseKey(key: Pick<PskcKey, 'policy' | 'deviceStartDate' | 'deviceExpiryDate'>, usage: string, at: Date): boolean {
  if (!policyAllows(key.policy, usage, at)) return false;
  if (key.deviceStartDate && at < key.deviceStartDate) return false;
  if (key.deviceExpiryDate && at > key.deviceExpiryDate) return false;
  return true;
}
