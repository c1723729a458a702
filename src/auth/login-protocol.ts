import { Attr, type RawAttribute } from '../radius/types';

/** What a login without User-Password was sent with, named as a NAS's settings name it. */
export type UnsupportedProtocol = 'CHAP' | 'MS-CHAP' | 'EAP' | 'no password';

/** RFC 2548 §2: Microsoft's Vendor-Id, and its MS-CHAP-Response (1) and MS-CHAP2-Response (25) vendor types. */
const MICROSOFT = 311;
const MS_CHAP_RESPONSES = new Set([1, 25]);

/**
 * Which protocol a login carrying no User-Password used: CHAP-Password (RFC 2865 §5.3), EAP-Message (RFC 3579),
 * an MS-CHAP(v2) response in a Microsoft Vendor-Specific attribute (RFC 2548 §2.1.2, §2.3.2), or none of them.
 */
export function unsupportedProtocol(attributes: readonly RawAttribute[]): UnsupportedProtocol {
  for (const a of attributes) {
    if (a.type === Attr.ChapPassword) return 'CHAP';
    if (a.type === Attr.EapMessage) return 'EAP';
    // Vendor-Specific (RFC 2865 §5.26): Vendor-Id (4 octets), then the vendor's type and length
    if (a.type === Attr.VendorSpecific && a.value.length >= 6 && a.value.readUInt32BE(0) === MICROSOFT && MS_CHAP_RESPONSES.has(a.value[4]!)) return 'MS-CHAP';
  }
  return 'no password';
}
