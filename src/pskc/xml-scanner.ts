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
  /**
   * Refuse any single depth-1 element larger than this (bounds memory while streaming), and any
   * single construct anywhere (a comment, processing instruction, CDATA section or tag, such as the
   * root start tag with its attributes) too: outside KeyPackages nothing else bounded them.
   */
  maxChildBytes: number;
}

/*
 * The deepest real PSKC is about 8 levels (KeyContainer/KeyPackage/Key/Data/Secret/EncryptedValue/
 * CipherData/CipherValue; a ds:Signature about as deep). Beyond 64 a file is refused here with its line,
 * before fast-xml-parser meets it and throws a bare "Maximum nested tags exceeded" (its limit is 100).
 */
const MAX_DEPTH = 64;
const MARKUP_LOOKAHEAD = 9; // length of "<![CDATA[" / "<!DOCTYPE"
const ILLEGAL_CHAR = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/;

/** The construct the input so far ends inside, and how far the search for its end has got. */
type Waiting =
  | { kind: 'terminator'; terminator: string; what: string; /** last characters searched, in case the terminator straddles chunks */ tail: string }
  | { kind: 'tag'; /** the quote of the attribute value the input ends in, or '' */ quote: string };

/*
 * Work stays proportional to the input: every character is searched once (plus once more when an
 * unfinished construct is joined), chunks that arrive while a construct is unfinished are kept
 * apart and only searched for its end, and what has been scanned is dropped (or, inside a depth-1
 * child, set aside until the child ends). Before, every chunk re-joined and re-searched everything
 * since the start of the current construct: a 300 MB comment took 235 s and 3 GB.
 */
export class XmlScanner {
  /** Input from the first character still needed; #pos is the next one to scan (at #line). */
  #buf = '';
  #pos = 0;
  #line = 1;
  #seen = 0;
  /** Line number at the end of the input pushed so far (for errors found before the scanner reaches them). */
  #pushedLines = 1;
  #stack: string[] = [];
  /** Where in #buf the current depth-1 child starts (-1: none); its earlier, scanned parts are in #captured. */
  #captureStart = -1;
  #captured: string[] = [];
  #capturedLength = 0;
  #captureLine = 0;
  /** Set when #buf ends inside the construct starting at #pos; later chunks wait in #pending. */
  #waiting?: Waiting;
  #pending: string[] = [];
  #pendingLength = 0;
  #examined = 0;
  #rootSeen = false;
  #rootClosed = false;
  #started = false;
  readonly #limits: ScannerLimits;

  constructor(limits: ScannerLimits) {
    this.#limits = limits;
  }

  /** Characters searched so far: for tests that the work per chunk stays proportional to the chunk. */
  get examined(): number {
    return this.#examined;
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
    if (this.#waiting) {
      const ended = this.#searchWaiting(this.#waiting, chunk);
      this.#pending.push(chunk);
      this.#pendingLength += chunk.length;
      this.#checkSizes();
      if (!ended) return [];
      this.#buf += this.#pending.join(''); // once per construct, when its end has arrived
      this.#pending = [];
      this.#pendingLength = 0;
      this.#waiting = undefined;
    } else {
      this.#buf += chunk; // #buf holds at most a few unscanned characters here (see #compact)
    }
    const events = this.#drain(false);
    this.#compact();
    this.#checkSizes();
    return events;
  }

  /** Drop what has been scanned; inside a depth-1 child, set it aside for the child's XML. */
  #compact(): void {
    if (this.#captureStart >= 0) {
      const part = this.#buf.slice(this.#captureStart, this.#pos);
      this.#captured.push(part);
      this.#capturedLength += part.length;
      this.#captureStart = 0;
    }
    this.#buf = this.#buf.slice(this.#pos);
    this.#pos = 0;
  }

  /** Whether `chunk` holds the end of the unfinished construct; searches only the new characters. */
  #searchWaiting(waiting: Waiting, chunk: string): boolean {
    if (waiting.kind === 'terminator') {
      const probe = waiting.tail + chunk;
      this.#examined += probe.length;
      if (probe.includes(waiting.terminator)) return true;
      waiting.tail = probe.slice(probe.length - (waiting.terminator.length - 1));
      return false;
    }
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      if (waiting.quote) {
        if (c === waiting.quote) waiting.quote = '';
      } else if (c === '"' || c === "'") {
        waiting.quote = c;
      } else if (c === '<' || c === '>') {
        this.#examined += i + 1;
        return true; // #drain scans the joined tag again and reports a '<' in it
      }
    }
    this.#examined += chunk.length;
    return false;
  }

  /** Refuse an unfinished construct or depth-1 child that has outgrown the limit, before buffering more of it. */
  #checkSizes(): void {
    const limit = this.#limits.maxChildBytes;
    const unfinished = this.#buf.length - this.#pos + this.#pendingLength;
    if (this.#captureStart >= 0 && this.#capturedLength + unfinished + (this.#pos - this.#captureStart) > limit) {
      throw new PskcError('too_large', `element <${this.#stack[1] ?? '?'}> exceeds the ${limit}-byte limit`, { line: this.#captureLine });
    }
    if (this.#waiting && unfinished > limit) this.#tooLarge(this.#waiting.kind === 'tag' ? 'start tag' : this.#waiting.what);
  }

  #tooLarge(what: string): never {
    throw new PskcError('too_large', `${what} exceeds the ${this.#limits.maxChildBytes}-byte limit`, { line: this.#line });
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
    if (this.#waiting) {
      this.#buf += this.#pending.join(''); // #drain reports the construct as unterminated
      this.#pending = [];
      this.#pendingLength = 0;
      this.#waiting = undefined;
    }
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
    this.#examined += to - this.#pos;
    this.#pos = to;
  }

  /** Index just past `terminator` searched from `from`, or -1 when more input is needed (then waits for it). */
  #findEnd(from: number, terminator: string, final: boolean, what: string): number {
    const buf = this.#buf;
    const at = buf.indexOf(terminator, from);
    this.#examined += (at === -1 ? buf.length : at + terminator.length) - from;
    if (at === -1) {
      if (final) throw this.#malformed(`unterminated ${what}`);
      this.#waiting = { kind: 'terminator', terminator, what, tail: buf.slice(Math.max(from, buf.length - (terminator.length - 1))) };
      return -1;
    }
    return at + terminator.length;
  }

  #drain(final: boolean): ScanEvent[] {
    const events: ScanEvent[] = [];
    const buf = this.#buf;
    for (;;) {
      if (this.#captureStart >= 0 && this.#capturedLength + this.#pos - this.#captureStart > this.#limits.maxChildBytes) {
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
      let what: string;
      if (next === '?') {
        what = 'processing instruction';
        end = this.#findEnd(lt + 2, '?>', final, what);
        if (end !== -1) this.#checkDeclaredEncoding(buf.slice(lt, Math.min(end, lt + 256)));
      } else if (next === '!') {
        if (buf.startsWith('<!--', lt)) {
          what = 'comment';
          end = this.#findEnd(lt + 4, '-->', final, what);
        } else if (buf.startsWith('<![CDATA[', lt)) {
          if (this.#stack.length === 0) throw this.#malformed('CDATA outside the root element');
          what = 'CDATA section';
          end = this.#findEnd(lt + 9, ']]>', final, what);
        } else {
          throw new PskcError('doctype_refused', 'document type declarations and entities are refused (PSKC needs no DTD)', {
            line: this.#line,
          });
        }
      } else if (next === '/') {
        what = 'end tag';
        end = this.#findEnd(lt + 2, '>', final, what);
        if (end !== -1) {
          if (end - lt > this.#limits.maxChildBytes) this.#tooLarge(what);
          this.#closeElement(buf.slice(lt + 2, end - 1).trim(), events, end);
        }
      } else {
        what = 'start tag';
        end = this.#findTagEnd(lt + 1, final);
        if (end !== -1) {
          if (end - lt > this.#limits.maxChildBytes) this.#tooLarge(what);
          this.#openElement(lt, end, events);
        }
      }
      if (end === -1) return events;
      // The same bound when the whole construct arrived in one chunk (readPskc pushes the document at once).
      if (end - lt > this.#limits.maxChildBytes) this.#tooLarge(what);
      this.#advance(end);
    }
  }

  /** End of a start tag, skipping '>' inside quoted attribute values; -1 when more input is needed (then waits for it). */
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
        this.#examined += i + 1 - from;
        return i + 1;
      }
    }
    this.#examined += buf.length - from;
    if (final) throw this.#malformed('unterminated start tag');
    this.#waiting = { kind: 'tag', quote };
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
    if (!selfClosing) {
      if (depth >= MAX_DEPTH) throw new PskcError('too_large', `elements nested deeper than ${MAX_DEPTH} levels`, { line: this.#line });
      this.#stack.push(name);
    }
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
    const xml = this.#captured.join('') + this.#buf.slice(this.#captureStart, end);
    events.push({ type: 'child', name, xml, line: this.#captureLine });
    this.#captureStart = -1;
    this.#captured = [];
    this.#capturedLength = 0;
  }
}
