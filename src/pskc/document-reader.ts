import { canonicalAlgorithm } from './algorithms';
import { PskcError } from './errors';
import { checkRoot, readHeader, readSignature, type ContainerContext } from './header';
import { KeyMaterial } from './key-material';
import { openKeyData, readKeyPackage, type KeyDraft } from './key-package';
import { assertKnownNamespaces } from './namespace-check';
import type { PskcDecryption, PskcHeader, PskcKey, PskcReadOptions, PskcSignatureInfo } from './types';
import { judgeKey } from './usability';
import type { ScanEvent, ScannerLimits } from './xml-scanner';
import { INITIAL_SCOPE, parseElement, type NamespaceScope, type XmlElement } from './xml-tree';

export const DEFAULT_LIMITS: ScannerLimits = { maxBytes: 512 * 1024 * 1024, maxChildBytes: 1024 * 1024 };

export function scannerLimits(options: PskcReadOptions): ScannerLimits {
  return {
    maxBytes: options.maxBytes ?? DEFAULT_LIMITS.maxBytes,
    maxChildBytes: options.maxPackageBytes ?? DEFAULT_LIMITS.maxChildBytes,
  };
}

/**
 * Turns scanner events into keys. The header (root attributes, namespace declarations,
 * EncryptionKey, MACMethod) is everything before the first KeyPackage; it is read once
 * and each KeyPackage is then parsed on its own in the root's namespace context.
 * Used by both readPskc (one chunk) and streamPskcFile (many).
 */
export class DocumentReader {
  readonly #decryption: PskcDecryption;
  readonly #options: PskcReadOptions;
  #root?: XmlElement;
  #scope: NamespaceScope = INITIAL_SCOPE;
  #headerElements: XmlElement[] = [];
  #context?: ContainerContext;
  #material?: KeyMaterial;
  #nextIndex = 0;
  #nextDevice = 0;
  #firstValueAlgorithm?: string;
  #signature?: PskcSignatureInfo;
  #ended = false;

  constructor(decryption: PskcDecryption, options: PskcReadOptions) {
    this.#decryption = decryption;
    this.#options = options;
  }

  get header(): PskcHeader | undefined {
    return this.#context?.header;
  }

  get context(): ContainerContext | undefined {
    return this.#context;
  }

  get material(): KeyMaterial | undefined {
    return this.#material;
  }

  get ended(): boolean {
    return this.#ended;
  }

  get signature(): PskcSignatureInfo | undefined {
    return this.#signature;
  }

  /** Algorithm of the first encrypted secret seen: the container's algorithm when the header names none (python-pskc does the same). */
  get firstValueAlgorithm(): string | undefined {
    return this.#firstValueAlgorithm;
  }

  /** Feed one event; returns the keys it completed. */
  onEvent(event: ScanEvent): PskcKey[] {
    switch (event.type) {
      case 'root': {
        const closing = event.selfClosing ? '' : `</${event.name}>`;
        const { element, scope } = parseElement(event.startTag + closing, INITIAL_SCOPE, event.line);
        checkRoot(element); // fail early: a non-PSKC document is refused before its children are read
        this.#root = element;
        this.#scope = scope;
        return [];
      }
      case 'child':
        return this.#onChild(event.xml, event.line);
      case 'end':
        this.#ensureHeader();
        this.#ended = true;
        return [];
    }
  }

  #ensureHeader(): ContainerContext {
    if (!this.#context) {
      if (!this.#root) throw new PskcError('malformed_xml', 'malformed XML: no root element');
      this.#context = readHeader(this.#root, this.#scope, this.#headerElements);
      this.#material = new KeyMaterial(this.#context, this.#decryption, {
        requireMac: this.#options.requireMac ?? false,
        maxPbkdf2Iterations: this.#options.maxPbkdf2Iterations ?? 10_000_000,
      });
      this.#headerElements = [];
    }
    return this.#context;
  }

  #onChild(xml: string, line: number): PskcKey[] {
    if (!this.#root) throw new PskcError('malformed_xml', 'malformed XML: element outside the root', { line });
    const { element } = parseElement(xml, this.#scope, line);
    if (element.group === 'pskc' && (element.local === 'KeyPackage' || element.local === 'Device')) {
      const context = this.#ensureHeader();
      assertKnownNamespaces(element, line);
      return this.#readPackage(element, context, line);
    }
    // draft-ietf-keyprov-pskc-02 Figure 8 put <Signature> in the PSKC namespace (an erratum RFC 6030 fixed).
    if ((element.group === 'dsig' || element.group === 'pskc') && element.local === 'Signature') {
      this.#signature = readSignature(element);
      return [];
    }
    assertKnownNamespaces(element, line);
    if (this.#context && element.group === 'pskc' && ['EncryptionKey', 'EncryptionMethod', 'MACMethod', 'DigestMethod'].includes(element.local)) {
      // RFC 6030 §4 schema order: EncryptionKey and MACMethod precede every KeyPackage.
      throw new PskcError('malformed_xml', `<${element.local}> after the first KeyPackage`, { line });
    }
    if (!this.#context) this.#headerElements.push(element);
    return [];
  }

  #readPackage(element: XmlElement, context: ContainerContext, line: number): PskcKey[] {
    const drafts = readKeyPackage(element, context, { firstIndex: this.#nextIndex, deviceIndex: this.#nextDevice++, line });
    this.#nextIndex += drafts.length;
    return drafts.map((draft) => this.#finishKey(draft));
  }

  #finishKey(draft: KeyDraft): PskcKey {
    const secret = draft.data.secret;
    if (this.#firstValueAlgorithm === undefined && secret && 'encrypted' in secret && secret.encrypted.algorithm) {
      this.#firstValueAlgorithm = canonicalAlgorithm(secret.encrypted.algorithm);
    }
    const now = this.#options.now ?? new Date();
    const { values, error } = openKeyData(draft, this.#material as KeyMaterial);
    const key = { ...draft.meta, ...values };
    if (!error) return { ...key, ...judgeKey(key, draft.problem, now) };
    const located = error.locate({ keyIndex: draft.meta.index, serial: draft.meta.serial, keyId: draft.meta.id, line: draft.meta.line });
    if ((this.#options.keyErrors ?? 'throw') === 'throw') throw located;
    // The secret is withheld whatever failed: a key with any unverifiable value is not returned half-trusted.
    return { ...key, secret: undefined, usable: false, unusableReason: located.message, error: located };
  }
}
