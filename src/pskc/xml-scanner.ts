import { PskcError, shown } from './errors';

/**
 * Splits a PSKC document, fed in chunks, into its root start tag and its complete
 * depth-1 child elements (EncryptionKey, MACMethod, each KeyPackage, Signature ...).
 * Each child is then parsed on its own, which keeps memory bounded by the largest
 * KeyPackage rather than by the file.
 *
 * It is a structural scanner, not a full XML parser: it tracks comments, CDATA,
 * processing instructions, quoted attribute values and start/end-tag nesting (names
 * must match), and leaves attribute and character-level checks to the fragment parser.
 * Any markup declaration (`<!DOCTYPE`, `<!ENTITY`, ...) is refused: PSKC never needs a
 * DTD, and refusing it removes entity-expansion attacks before any parser sees them.
 */
export type ScanEvent =
  | { type: 'root'; name: string; startTag: string; selfClosing: boolean; line: number }
  | { type: 'child'; name: string; xml: string; line: number }
  | { type: 'end' };

export interface ScannerLimits {
  /** Refuse documents larger than this many characters (UTF-16 units; close to bytes for PSKC). */
  maxBytes: number;
  /** Refuse any single depth-1 element larger than this (bounds memory while streaming). */
  maxChildBytes: number;
}

const MARKUP_LOOKAHEAD = 9;
const ILLEGAL_CHAR = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/; // length of "<![CDATA[" / "<!DOCTYPE"

export class XmlScanner {
  #buf = '';
  #pos = 0;
  #line = 1;
  #seen = 0;
  /** Line number at the end of the input pushed so far (for errors found before the scanner reaches them). */
  #pushedLines = 1;
  #stack: string[] = [];
  #captureStart = -1;
  #captureLine = 0;
  #rootSeen = false;
  #rootClosed = false;
  #started = false;
  readonly #limits: ScannerLimits;

  constructor(limits: ScannerLimits) {
    this.#limits = limits;
  }

  push(chunk: string): ScanEvent[] {
    if (!this.#started) {
      this.#started = true;
      // A UTF-8 byte-order mark decodes to U+FEFF (misc/SampleFullyQualifiedNS.xml starts with one).
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    }
    this.#checkCharacters(chunk);
    this.#seen += chunk.length;
    if (this.#seen > this.#limits.maxBytes) {
      throw new PskcError('too_large', `document exceeds the ${this.#limits.maxBytes}-byte limit`);
    }
    const keep = this.#captureStart >= 0 ? this.#captureStart : this.#pos;
    this.#buf = this.#buf.slice(keep) + chunk;
    this.#pos -= keep;
    if (this.#captureStart >= 0) this.#captureStart -= keep;
    return this.#drain(false);
  }

  /**
   * XML 1.0 §2.2: a document holds only Chars, and Char excludes NUL and the other C0 controls but
   * TAB, LF and CR (and U+FFFE, U+FFFF). A raw ESC in a serial would otherwise reach the token list.
   */
  #checkCharacters(chunk: string): void {
    const bad = ILLEGAL_CHAR.exec(chunk);
    if (bad) {
      let line = this.#pushedLines;
      for (let i = chunk.indexOf('\n'); i !== -1 && i < bad.index; i = chunk.indexOf('\n', i + 1)) line++;
      const code = bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
      throw new PskcError('malformed_xml', `malformed XML: character U+${code} is not allowed in an XML document`, { line });
    }
    for (let i = chunk.indexOf('\n'); i !== -1; i = chunk.indexOf('\n', i + 1)) this.#pushedLines++;
  }

  /**
   * The XML declaration may name an encoding (XML 1.0 §4.3.3). The bytes were decoded as UTF-8, so a
   * file that says it is ISO-8859-1 (or anything else) would be read wrongly: refuse it.
   */
  #checkDeclaredEncoding(pi: string): void {
    if (!/^<\?xml\s/.test(pi)) return;
    const encoding = /\sencoding\s*=\s*(["'])(.*?)\1/.exec(pi)?.[2];
    if (encoding !== undefined && !/^utf-?8$/i.test(encoding)) {
      throw new PskcError('not_utf8', `not UTF-8: the file declares encoding "${shown(encoding)}" (only UTF-8 PSKC files are read)`, { line: this.#line });
    }
  }

  finish(): ScanEvent[] {
    const events = this.#drain(true);
    if (!this.#rootSeen) throw this.#malformed('no root element');
    if (!this.#rootClosed) throw this.#malformed(`unexpected end of document inside <${this.#stack.at(-1) ?? '?'}>`);
    return events;
  }

  #malformed(detail: string): PskcError {
    return new PskcError('malformed_xml', `malformed XML: ${detail}`, { line: this.#line });
  }

  #advance(to: number): void {
    const buf = this.#buf;
    for (let i = buf.indexOf('\n', this.#pos); i !== -1 && i < to; i = buf.indexOf('\n', i + 1)) this.#line++;
    this.#pos = to;
  }

  /** Index just past `terminator` searched from `from`, or -1 when more input is needed. */
  #findEnd(from: number, terminator: string, final: boolean, what: string): number {
    const at = this.#buf.indexOf(terminator, from);
    if (at === -1) {
      if (final) throw this.#malformed(`unterminated ${what}`);
      return -1;
    }
    return at + terminator.length;
  }

  #drain(final: boolean): ScanEvent[] {
    const events: ScanEvent[] = [];
    const buf = this.#buf;
    for (;;) {
      if (this.#captureStart >= 0 && buf.length - this.#captureStart > this.#limits.maxChildBytes) {
        throw new PskcError('too_large', `element <${this.#stack[1] ?? '?'}> exceeds the ${this.#limits.maxChildBytes}-byte limit`, {
          line: this.#captureLine,
        });
      }
      const lt = buf.indexOf('<', this.#pos);
      const textEnd = lt === -1 ? buf.length : lt;
      if (this.#stack.length === 0 && /\S/.test(buf.slice(this.#pos, textEnd))) {
        throw this.#malformed(this.#rootClosed ? 'content after the root element' : 'text before the root element');
      }
      this.#advance(textEnd);
      if (lt === -1) return events;
      if (buf.length - lt < MARKUP_LOOKAHEAD && !final) return events;

      const next = buf[lt + 1];
      let end: number;
      if (next === '?') {
        end = this.#findEnd(lt + 2, '?>', final, 'processing instruction');
        if (end !== -1) this.#checkDeclaredEncoding(buf.slice(lt, end));
      } else if (next === '!') {
        if (buf.startsWith('<!--', lt)) {
          end = this.#findEnd(lt + 4, '-->', final, 'comment');
        } else if (buf.startsWith('<![CDATA[', lt)) {
          if (this.#stack.length === 0) throw this.#malformed('CDATA outside the root element');
          end = this.#findEnd(lt + 9, ']]>', final, 'CDATA section');
        } else {
          throw new PskcError('doctype_refused', 'document type declarations and entities are refused (PSKC needs no DTD)', {
            line: this.#line,
          });
        }
      } else if (next === '/') {
        end = this.#findEnd(lt + 2, '>', final, 'end tag');
        if (end !== -1) {
          this.#closeElement(buf.slice(lt + 2, end - 1).trim(), events, end);
        }
      } else {
        end = this.#findTagEnd(lt + 1, final);
        if (end !== -1) this.#openElement(lt, end, events);
      }
      if (end === -1) return events;
      this.#advance(end);
    }
  }

  /** End of a start tag, skipping '>' inside quoted attribute values. */
  #findTagEnd(from: number, final: boolean): number {
    const buf = this.#buf;
    let quote = '';
    for (let i = from; i < buf.length; i++) {
      const c = buf[i];
      if (quote) {
        if (c === quote) quote = '';
      } else if (c === '"' || c === "'") {
        quote = c;
      } else if (c === '<') {
        throw this.#malformed("'<' inside a tag");
      } else if (c === '>') {
        return i + 1;
      }
    }
    if (final) throw this.#malformed('unterminated start tag');
    return -1;
  }

  #openElement(lt: number, end: number, events: ScanEvent[]): void {
    const buf = this.#buf;
    const name = /^[^\s/>]+/.exec(buf.slice(lt + 1, Math.min(end, lt + 256)))?.[0];
    if (!name) throw this.#malformed('start tag without a name');
    const selfClosing = buf[end - 2] === '/';
    const depth = this.#stack.length;
    if (depth === 0) {
      if (this.#rootClosed) throw this.#malformed('more than one root element');
      this.#rootSeen = true;
      events.push({ type: 'root', name, startTag: buf.slice(lt, end), selfClosing, line: this.#line });
      if (selfClosing) {
        this.#rootClosed = true;
        events.push({ type: 'end' });
      }
    } else if (depth === 1) {
      this.#captureStart = lt;
      this.#captureLine = this.#line;
      if (selfClosing) this.#emitChild(name, end, events);
    }
    if (!selfClosing) this.#stack.push(name);
  }

  #closeElement(name: string, events: ScanEvent[], end: number): void {
    const open = this.#stack.pop();
    if (open === undefined) throw this.#malformed(`unexpected end tag </${name}>`);
    if (open !== name) throw this.#malformed(`expected </${open}> but found </${name}>`);
    if (this.#stack.length === 1) this.#emitChild(name, end, events);
    if (this.#stack.length === 0) {
      this.#rootClosed = true;
      events.push({ type: 'end' });
    }
  }

  #emitChild(name: string, end: number, events: ScanEvent[]): void {
    events.push({ type: 'child', name, xml: this.#buf.slice(this.#captureStart, end), line: this.#captureLine });
    this.#captureStart = -1;
  }
}
