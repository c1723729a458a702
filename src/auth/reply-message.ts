import { Attr, type RawAttribute } from '../radius/types';

/** RFC 2865 §5: an attribute's value holds at most 253 octets. */
const MAX_VALUE_OCTETS = 253;

/**
 * RFC 2865 §5.18: Reply-Message is UTF-8 text of at most 253 octets per attribute; longer text spans
 * several, which a NAS shows joined. Each is cut at a character boundary, never inside a multi-byte
 * character (a NAS decoding each attribute alone would show the halves as garbage).
 */
export function replyMessageAttributes(text: string): RawAttribute[] {
  const out: RawAttribute[] = [];
  let chunk = '';
  let chunkOctets = 0;
  for (const char of text) {
    const octets = Buffer.byteLength(char, 'utf8');
    if (chunkOctets + octets > MAX_VALUE_OCTETS) {
      out.push({ type: Attr.ReplyMessage, value: Buffer.from(chunk, 'utf8') });
      chunk = '';
      chunkOctets = 0;
    }
    chunk += char;
    chunkOctets += octets;
  }
  if (chunk) out.push({ type: Attr.ReplyMessage, value: Buffer.from(chunk, 'utf8') });
  return out;
}
