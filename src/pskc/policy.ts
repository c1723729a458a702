import type { PskcPolicy } from './types';
import { parseDateTime, parseXsBoolean, parseXsInt, parseXsInteger } from './values';
import { attribute, type XmlElement } from './xml-tree';

const KNOWN_POLICY_CHILDREN = new Set(['StartDate', 'ExpiryDate', 'NumberOfTransactions', 'KeyUsage', 'PINPolicy']);
const KNOWN_PIN_POLICY_ATTRIBUTES = new Set(['PINKeyId', 'PINUsageMode', 'MaxFailedAttempts', 'MinLength', 'MaxLength', 'PINEncoding']);
/** Usage attributes of the pre-RFC <Usage> element that map to RFC 6030 KeyUsage values. */
const LEGACY_USAGE_ATTRIBUTES = ['OTP', 'CR', 'Integrity', 'Encrypt', 'Unlock'];

/**
 * RFC 6030 §5 <Policy>. Every element or attribute we do not know is recorded, because
 * §5 says: "If a key has policy elements that the recipient does not understand, the
 * key MUST NOT be used" — the caller turns a non-empty list into `usable: false`.
 */
export function readPolicy(policy: XmlElement | undefined, usage: XmlElement | undefined): PskcPolicy {
  const result: PskcPolicy = { keyUsage: [], unknownElements: [] };
  for (const child of policy?.children ?? []) {
    if (child.group !== 'pskc' || !KNOWN_POLICY_CHILDREN.has(child.local)) {
      result.unknownElements.push(child.local);
      continue;
    }
    switch (child.local) {
      case 'StartDate':
        result.startDate = parseDateTime(child.text, 'Policy StartDate');
        break;
      case 'ExpiryDate':
        result.expiryDate = parseDateTime(child.text, 'Policy ExpiryDate');
        break;
      case 'NumberOfTransactions':
        result.numberOfTransactions = parseXsInteger(child.text, 'NumberOfTransactions');
        break;
      case 'KeyUsage':
        result.keyUsage.push(child.text);
        break;
      case 'PINPolicy':
        result.pinPolicy = readPinPolicy(child, result.unknownElements);
        break;
    }
  }
  for (const name of LEGACY_USAGE_ATTRIBUTES) {
    const value = attribute(usage, name);
    if (value !== undefined && parseXsBoolean(value, `Usage ${name}`) && !result.keyUsage.includes(name)) result.keyUsage.push(name);
  }
  return result;
}

function readPinPolicy(element: XmlElement, unknown: string[]): NonNullable<PskcPolicy['pinPolicy']> {
  for (const name of Object.keys(element.attrs)) {
    if (!KNOWN_PIN_POLICY_ATTRIBUTES.has(name)) unknown.push(`PINPolicy@${name}`);
  }
  for (const child of element.children) unknown.push(`PINPolicy/${child.local}`);
  const int = (name: string): number | undefined => {
    const value = attribute(element, name);
    return value === undefined ? undefined : parseXsInt(value, `PINPolicy ${name}`);
  };
  return {
    pinKeyId: attribute(element, 'PINKeyId'),
    pinUsageMode: attribute(element, 'PINUsageMode'),
    maxFailedAttempts: int('MaxFailedAttempts'),
    minLength: int('MinLength'),
    maxLength: int('MaxLength'),
    pinEncoding: attribute(element, 'PINEncoding'),
  };
}

/**
 * Whether policy allows `usage` at time `at` (RFC 6030 §5: StartDate/ExpiryDate bound
 * the validity; KeyUsage lists what the key may be used for; unknown elements forbid all use).
 */
export function policyAllows(policy: PskcPolicy, usage: string, at: Date): boolean {
  if (policy.unknownElements.length > 0) return false;
  if (policy.keyUsage.length > 0 && !policy.keyUsage.includes(usage)) return false;
  if (policy.startDate && at < policy.startDate) return false;
  if (policy.expiryDate && at > policy.expiryDate) return false;
  return true;
}
