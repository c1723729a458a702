import { Attr, type RawAttribute } from '../radius/types';

/** RFC 2865 §5: an attribute's value holds at most 253 octets. */
const MAX_VALUE_OCTETS = 253;

const BLANK = /\s/u;

/**
 * RFC 2865 §5.18: Reply-Message is UTF-8 text of at most 253 octets per attribute; longer text spans
 * several ("Multiple Reply-Message's MAY be included and if any are displayed, they MUST be displayed in the
 * same order"). Each is cut at a character boundary, never inside a multi-byte character (a NAS decoding each
 * attribute alone would show the halves as garbage), and after the last blank that fits when there is one:
 * NASes differ in how they show several (radcli joins them with newlines, others run them together), and a
 * cut between words reads right either way, while one inside a word shows it broken in two on the first.
 * The blank stays at the end of its part, so the parts joined are the text exactly.
 */
export function replyMessageAttributes(text: string): RawAttribute[] {
  // the usual case (every challenge's prompt is built here): one attribute, no walk over the characters
  const whole = Buffer.from(text, 'utf8');
  if (whole.length <= MAX_VALUE_OCTETS) return whole.length === 0 ? [] : [{ type: Attr.ReplyMessage, value: whole }];
  const out: RawAttribute[] = [];
  let chunk: string[] = [];
  let chunkOctets = 0;
  /** Characters, and octets, of `chunk` up to and including its last blank (0: none). */
  let afterBlank = 0;
  let afterBlankOctets = 0;
  const emit = (characters: number): void => {
    const part = chunk.slice(0, characters).join('');
    out.push({ type: Attr.ReplyMessage, value: Buffer.from(part, 'utf8') });
    chunk = chunk.slice(characters);
    chunkOctets -= Buffer.byteLength(part, 'utf8');
    afterBlank = 0;
    afterBlankOctets = 0;
  };
  for (const char of text) {
    const octets = Buffer.byteLength(char, 'utf8');
    if (chunkOctets + octets > MAX_VALUE_OCTETS) {
      // after the blank when what follows it, with this character, fits the next attribute; else all of it
      const restFits = afterBlank > 0 && chunkOctets - afterBlankOctets + octets <= MAX_VALUE_OCTETS;
      emit(restFits ? afterBlank : chunk.length);
    }
    chunk.push(char);
    chunkOctets += octets;
    if (BLANK.test(char)) {
      afterBlank = chunk.length;
      afterBlankOctets = chunkOctets;
    }
  }
  if (chunk.length > 0) emit(chunk.length);
  return out;
}

/** A configured message that takes more than one Reply-Message attribute (see longMessages). */
export interface LongMessage {
  readonly key: string;
  readonly octets: number;
  readonly attributes: number;
}

/**
 * The configured messages (config key → text) that span several Reply-Message attributes. RFC 2865 §5.18
 * allows it, but not every NAS shows them all: pam_radius prompts with the first Reply-Message of an
 * Access-Challenge alone, so its users would see the text cut. Told to the operator at start.
 */
export function longMessages(messages: Readonly<Record<string, string>>): LongMessage[] {
  return Object.entries(messages)
    .map(([key, text]) => ({ key, octets: Buffer.byteLength(text, 'utf8'), attributes: replyMessageAttributes(text).length }))
    .filter((m) => m.attributes > 1);
}
