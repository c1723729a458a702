/**
 * RFC 4648 §6 base32 (alphabet A–Z, 2–7), the encoding authenticator apps use for secrets.
 * Output carries no '=' padding (Google Authenticator Key URI format: "The padding specified in
 * RFC 3548 section 2.2 is not required and should be omitted").
 * Input is what a human typed or pasted: case-insensitive, spaces and hyphens (group separators)
 * ignored, '=' padding optional but, if present, only at the end and of the correct amount.
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Character code → 5-bit value, or -1. Lower case maps like upper case. */
const DECODE_TABLE: Int8Array = (() => {
  const table = new Int8Array(128).fill(-1);
  for (let i = 0; i < ALPHABET.length; i++) {
    table[ALPHABET.charCodeAt(i)] = i;
    table[ALPHABET.toLowerCase().charCodeAt(i)] = i;
  }
  return table;
})();

/** Unpadded lengths mod 8 that a whole number of bytes can produce (RFC 4648 §6 final quanta). */
const VALID_TAIL_LENGTHS = new Set([0, 2, 4, 5, 7]);

export function base32Encode(buf: Buffer): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (let i = 0; i < buf.length; i++) {
    value = ((value << 8) | buf[i]) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(value >>> bits) & 31];
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

/** Decodes base32 text; returns null (never throws) for characters outside the alphabet or an impossible length. */
export function base32Decode(text: string): Buffer | null {
  if (typeof text !== 'string') return null;
  const compact = text.replace(/[\s-]+/g, '');
  const firstPad = compact.indexOf('=');
  const data = firstPad === -1 ? compact : compact.slice(0, firstPad);
  if (firstPad !== -1) {
    const padding = compact.slice(firstPad);
    if (!/^=+$/.test(padding) || padding.length >= 8 || compact.length % 8 !== 0) return null;
  }
  if (!VALID_TAIL_LENGTHS.has(data.length % 8)) return null;
  if (firstPad !== -1 && data.length % 8 === 0) return null; // a full quantum takes no padding

  const out = Buffer.allocUnsafe(Math.floor((data.length * 5) / 8));
  let bits = 0;
  let value = 0;
  let index = 0;
  for (let i = 0; i < data.length; i++) {
    const code = data.charCodeAt(i);
    const symbol = code < 128 ? DECODE_TABLE[code] : -1;
    if (symbol < 0) return null;
    value = ((value << 5) | symbol) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[index++] = (value >>> bits) & 0xff;
    }
  }
  // Leftover (< 8) bits are the zero fill of the last quantum; like most decoders we ignore them.
  return out;
}
