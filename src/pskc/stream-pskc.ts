import { createReadStream } from 'node:fs';
import { DocumentReader, scannerLimits } from './document-reader';
import { PskcError } from './errors';
import type { PskcDecryption, PskcHeader, PskcKey, PskcReadOptions } from './types';
import { StrictUtf8Decoder } from './utf8';
import { XmlScanner, type ScanEvent } from './xml-scanner';

export interface PskcKeyStream extends AsyncIterable<PskcKey> {
  /** The container header; reads only as far as the first KeyPackage. */
  header(): Promise<PskcHeader>;
}

const CHUNK_SIZE = 256 * 1024;

/**
 * Stream the keys of a PSKC file in bounded memory: the file is read in chunks, the
 * header once, and each KeyPackage is cut out and parsed on its own. Memory is bounded
 * by the chunk size plus the largest KeyPackage (`maxPackageBytes`), not by the file.
 *
 * PIN references (PINPolicy/@PINKeyId) are not resolved: the PIN key may come later.
 * The file is decoded as strict UTF-8 (see StrictUtf8Decoder).
 */
export function streamPskcFile(path: string, decryption: PskcDecryption = {}, options: PskcReadOptions = {}): PskcKeyStream {
  return new PskcFileStream(path, decryption, options);
}

class PskcFileStream implements PskcKeyStream {
  readonly #path: string;
  readonly #scanner: XmlScanner;
  readonly #reader: DocumentReader;
  readonly #decoder = new StrictUtf8Decoder();
  #chunks?: AsyncIterator<Buffer>;
  #pending: PskcKey[] = [];
  #pendingAt = 0;
  #done = false;

  constructor(path: string, decryption: PskcDecryption, options: PskcReadOptions) {
    this.#path = path;
    this.#scanner = new XmlScanner(scannerLimits(options));
    this.#reader = new DocumentReader(decryption, options);
  }

  #open(): AsyncIterator<Buffer> {
    // Bytes, not a string stream: Node's 'utf8' stream decoding replaces invalid bytes with U+FFFD.
    this.#chunks ??= createReadStream(this.#path, { highWaterMark: CHUNK_SIZE })[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    return this.#chunks;
  }

  /** Read one chunk and run its events; false once the document is finished. */
  async #pump(): Promise<boolean> {
    if (this.#done) return false;
    const next = await this.#open().next();
    const events: ScanEvent[] = next.done
      ? [...this.#scanner.push(this.#decoder.decode(new Uint8Array(0), true)), ...this.#scanner.finish()]
      : this.#scanner.push(this.#decoder.decode(next.value));
    if (next.done) this.#done = true;
    if (this.#pendingAt > 0) {
      this.#pending = this.#pending.slice(this.#pendingAt);
      this.#pendingAt = 0;
    }
    for (const event of events) this.#pending.push(...this.#reader.onEvent(event));
    return !this.#done;
  }

  async header(): Promise<PskcHeader> {
    while (!this.#reader.header && !this.#done) await this.#pump();
    const header = this.#reader.header;
    if (!header) throw new PskcError('malformed_xml', 'malformed XML: incomplete document');
    return header;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<PskcKey> {
    try {
      for (;;) {
        while (this.#pendingAt < this.#pending.length) {
          const key = this.#pending[this.#pendingAt];
          this.#pending[this.#pendingAt++] = undefined as unknown as PskcKey; // let the consumer own the only reference
          yield key;
        }
        if (this.#done) return;
        await this.#pump();
      }
    } finally {
      await this.#chunks?.return?.();
    }
  }
}
