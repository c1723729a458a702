import { PskcError } from './errors';

/**
 * Decodes a PSKC file, fed in chunks, as strict UTF-8. The lenient decoder Node uses by default turns
 * every invalid byte into U+FFFD, so an ISO-8859-1 file or a corrupted one imported with mangled serials
 * (and two different serials could collapse into one). RFC 6030 files are UTF-8 in practice (every
 * writer we know; XML 1.0 §4.3.3 makes UTF-8 the encoding of a document that declares none), so
 * anything else is refused rather than guessed.
 */
export class StrictUtf8Decoder {
  // fatal: an invalid sequence throws instead of becoming U+FFFD; a UTF-8 BOM is dropped.
  readonly #decoder = new TextDecoder('utf-8', { fatal: true });
  /** Line at the start of the next chunk. */
  #line = 1;
  #started = false;

  /** Decode the next chunk; `final` for the last one (an incomplete sequence at the end is an error too). */
  decode(bytes: Uint8Array, final = false): string {
    try {
      return this.#decoder.decode(bytes, { stream: !final });
    } catch {
      throw new PskcError('not_utf8', 'not UTF-8: invalid byte sequence (only UTF-8 PSKC files are read)', { line: this.#line + this.#linesBeforeInvalid(bytes) });
    } finally {
      for (let i = bytes.indexOf(0x0a); i !== -1; i = bytes.indexOf(0x0a, i + 1)) this.#line++;
      this.#started = true;
    }
  }

  /** Lines of `bytes` before the first line that does not decode on its own (the error path only). */
  #linesBeforeInvalid(bytes: Uint8Array): number {
    // A chunk may begin with the continuation bytes of a character the previous chunk started.
    let start = 0;
    while (this.#started && start < 3 && start < bytes.length && (bytes[start] & 0xc0) === 0x80) start++;
    const check = new TextDecoder('utf-8', { fatal: true });
    let lines = 0;
    for (let end = bytes.indexOf(0x0a, start); ; end = bytes.indexOf(0x0a, start)) {
      try {
        check.decode(bytes.subarray(start, end === -1 ? bytes.length : end));
      } catch {
        return lines;
      }
      if (end === -1) return lines;
      lines++;
      start = end + 1;
    }
  }
}
