import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { escapeControls, PskcError, shown } from './errors';
import { namespaceGroup, type NamespaceGroup } from './namespaces';

/** A namespace-resolved element. Only unprefixed attributes are kept: PSKC attributes are unqualified. */
export interface XmlElement {
  /** Namespace URI, '' for no namespace. */
  readonly ns: string;
  /** Our group for `ns`, or undefined for a namespace we do not interpret. */
  readonly group: NamespaceGroup | undefined;
  readonly local: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: readonly XmlElement[];
  /** Concatenated, trimmed character data with the predefined entities decoded. */
  readonly text: string;
}

/** In-scope namespace declarations: prefix ('' = default namespace) to URI. */
export type NamespaceScope = ReadonlyMap<string, string>;

export const INITIAL_SCOPE: NamespaceScope = new Map([['xml', 'http://www.w3.org/XML/1998/namespace']]);

/*
 * Hardened options (notes/dependencies.md §6): no entity processing at all (DTDs are
 * refused before we get here), values kept as strings so serials keep leading zeros,
 * and prefixes kept so that we can resolve them to URIs ourselves.
 */
const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  removeNSPrefix: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  processEntities: false,
  htmlEntities: false,
  allowBooleanAttributes: false,
  // CDATA is literal text: kept apart so that no reference inside it is decoded.
  cdataPropName: '#cdata',
});

type OrderedNode = Record<string, unknown>;

/**
 * Parse one self-contained element (the root start tag closed artificially, or a
 * depth-1 child cut out by the scanner) in the namespace context of its parent.
 */
export function parseElement(xml: string, parentScope: NamespaceScope, line: number): { element: XmlElement; scope: NamespaceScope } {
  const verdict = XMLValidator.validate(xml, { allowBooleanAttributes: false });
  if (verdict !== true) {
    throw new PskcError('malformed_xml', `malformed XML: ${verdict.err.msg}`, { line: line + verdict.err.line - 1 });
  }
  try {
    const nodes = parser.parse(xml) as OrderedNode[];
    const top = nodes.find((node) => elementName(node) !== undefined);
    if (!top) throw new PskcError('malformed_xml', 'malformed XML: no element', { line });
    let topScope: NamespaceScope = parentScope;
    const element = build(top, parentScope, line, (scope) => (topScope = scope));
    return { element, scope: topScope };
  } catch (error) {
    // Reference errors are raised without a place: the element's line is the closest we know.
    if (error instanceof PskcError) throw error.locate({ line });
    // fast-xml-parser throws plain Errors (e.g. "Maximum nested tags exceeded"): still one located refusal.
    throw new PskcError('malformed_xml', `malformed XML: ${escapeControls(String((error as Error).message ?? error)).slice(0, 200)}`, { line }, { cause: error });
  }
}

function elementName(node: OrderedNode): string | undefined {
  for (const key of Object.keys(node)) {
    if (key !== ':@' && key !== '#text' && key !== '#cdata' && !key.startsWith('?')) return key;
  }
  return undefined;
}

function build(node: OrderedNode, parentScope: NamespaceScope, line: number, onScope?: (scope: NamespaceScope) => void): XmlElement {
  const qname = elementName(node) as string;
  const rawAttrs = (node[':@'] ?? {}) as Record<string, string>;
  const scope = extendScope(parentScope, rawAttrs, line);
  onScope?.(scope);

  const colon = qname.indexOf(':');
  const prefix = colon === -1 ? '' : qname.slice(0, colon);
  const local = colon === -1 ? qname : qname.slice(colon + 1);
  const ns = scope.get(prefix);
  if (ns === undefined && prefix !== '') {
    throw new PskcError('malformed_xml', `malformed XML: namespace prefix '${prefix}' of <${qname}> is not declared`, { line });
  }

  const attrs: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, value] of Object.entries(rawAttrs)) {
    if (!name.includes(':') && name !== 'xmlns') attrs[name] = decodeXmlText(value);
  }

  const children: XmlElement[] = [];
  const text: string[] = [];
  for (const child of (node[qname] ?? []) as OrderedNode[]) {
    if (typeof child['#text'] === 'string') text.push(decodeXmlText(child['#text']));
    else if (Array.isArray(child['#cdata'])) text.push(...(child['#cdata'] as OrderedNode[]).map((part) => String(part['#text'] ?? '')));
    else if (elementName(child) !== undefined) children.push(build(child, scope, line));
  }
  const uri = ns ?? '';
  return { ns: uri, group: namespaceGroup(uri), local, attrs, children, text: text.join('').trim() };
}

function extendScope(parent: NamespaceScope, attrs: Record<string, string>, line: number): NamespaceScope {
  let scope: Map<string, string> | undefined;
  for (const [name, value] of Object.entries(attrs)) {
    let prefix: string | undefined;
    if (name === 'xmlns') prefix = '';
    else if (name.startsWith('xmlns:')) prefix = name.slice(6);
    if (prefix === undefined) continue;
    const uri = decodeXmlText(value).trim();
    // Namespaces in XML 1.0 §3: "The prefix xmlns ... MUST NOT be declared" and a prefix cannot be undeclared.
    if (prefix === 'xmlns' || (prefix !== '' && uri === '')) {
      throw new PskcError('malformed_xml', `malformed XML: invalid namespace declaration ${name}`, { line });
    }
    scope ??= new Map(parent);
    scope.set(prefix, uri);
  }
  return scope ?? parent;
}

const PREDEFINED: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/**
 * Decode the five predefined entities and character references; nothing else exists without a DTD
 * (and a DTD is refused). XML 1.0 §4.1 WFC "Entity Declared": "the Name given in the entity
 * reference MUST match that in an entity declaration", so `&xxe;` is not text but an error; and
 * WFC "Legal Character": "Characters referred to using character references MUST match the
 * production for Char", which excludes NUL, the other C0 controls but TAB, LF, CR, surrogates and
 * U+FFFE/U+FFFF. A '&' that starts no reference is not well-formed either (§2.4).
 */
export function decodeXmlText(value: string): string {
  if (!value.includes('&')) return value;
  return value.replace(/&(?:(#x[0-9a-fA-F]+|#[0-9]+|[^\s&;<]+);)?/g, (whole, ref: string | undefined) => {
    if (ref === undefined) throw new PskcError('malformed_xml', `malformed XML: '&' that starts no entity or character reference`);
    if (!ref.startsWith('#')) {
      const decoded = PREDEFINED[ref];
      if (decoded === undefined) {
        throw new PskcError('malformed_xml', `malformed XML: undefined entity ${shown(whole)} (only &lt; &gt; &amp; &quot; &apos; and character references exist without a DTD)`);
      }
      return decoded;
    }
    const code = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
    if (!isXmlChar(code)) throw new PskcError('malformed_xml', `malformed XML: character reference ${shown(whole)} is not an XML character`);
    return String.fromCodePoint(code);
  });
}

/** XML 1.0 §2.2 Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF] */
function isXmlChar(code: number): boolean {
  return code === 0x9 || code === 0xa || code === 0xd || (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff);
}

// ---- navigation helpers (namespace-aware) ----

type Groups = NamespaceGroup | readonly NamespaceGroup[];

function inGroups(element: XmlElement, groups: Groups): boolean {
  return typeof groups === 'string' ? element.group === groups : element.group !== undefined && groups.includes(element.group);
}

export function childElement(parent: XmlElement | undefined, groups: Groups, local: string): XmlElement | undefined {
  return parent?.children.find((child) => child.local === local && inGroups(child, groups));
}

export function childElements(parent: XmlElement | undefined, groups: Groups, local: string): XmlElement[] {
  return parent ? parent.children.filter((child) => child.local === local && inGroups(child, groups)) : [];
}

/** Follow a path of local names within one namespace group. */
export function pathElement(parent: XmlElement | undefined, groups: Groups, ...path: string[]): XmlElement | undefined {
  let current = parent;
  for (const local of path) current = childElement(current, groups, local);
  return current;
}

export function childText(parent: XmlElement | undefined, groups: Groups, local: string): string | undefined {
  const child = childElement(parent, groups, local);
  return child === undefined ? undefined : child.text;
}

/** First present attribute among spellings used by RFC 6030 and its drafts (Algorithm / KeyAlgorithm / algorithm ...). */
export function attribute(element: XmlElement | undefined, ...names: string[]): string | undefined {
  if (!element) return undefined;
  for (const name of names) {
    const value = element.attrs[name];
    if (value !== undefined) return value;
  }
  return undefined;
}
