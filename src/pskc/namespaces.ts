/**
 * Namespace URIs the reader interprets. Elements are matched on (namespace group,
 * local name) after resolving prefixes ourselves — never on the prefix text, which
 * RFC 6030 leaves to the writer (misc/odd-namespace uses `foo:`).
 */
export const NS = {
  /** RFC 6030 §4: "urn:ietf:params:xml:ns:keyprov:pskc". */
  pskc: 'urn:ietf:params:xml:ns:keyprov:pskc',
  xenc: 'http://www.w3.org/2001/04/xmlenc#',
  xenc11: 'http://www.w3.org/2009/xmlenc11#',
  dsig: 'http://www.w3.org/2000/09/xmldsig#',
  pkcs5: 'http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#',
} as const;

/** Namespaces of pre-RFC drafts found in real files (draft-ietf-keyprov-pskc-02, draft-hoyer-*, ActivIdentity). */
export const LEGACY_PSKC_NAMESPACES: readonly string[] = [
  'urn:ietf:params:xml:ns:keyprov:pskc:1.0',
  'urn:ietf:params:xml:ns:keyprov:container',
  'urn:ietf:params:xml:ns:keyprov:container:1.0',
  'http://www.openauthentication.org/OATH/2006/08/PSKC',
];

export type NamespaceGroup = 'pskc' | 'xenc' | 'xenc11' | 'dsig' | 'pkcs5' | 'none';

const GROUP_OF_URI = new Map<string, NamespaceGroup>([
  [NS.pskc, 'pskc'],
  ...LEGACY_PSKC_NAMESPACES.map((uri): [string, NamespaceGroup] => [uri, 'pskc']),
  [NS.xenc, 'xenc'],
  [NS.xenc11, 'xenc11'],
  [NS.dsig, 'dsig'],
  [NS.pkcs5, 'pkcs5'],
]);

/** The group of a namespace URI; `undefined` for namespaces we do not interpret. */
export function namespaceGroup(uri: string | undefined): NamespaceGroup | undefined {
  if (uri === undefined || uri === '') return 'none';
  return GROUP_OF_URI.get(uri);
}

export function isLegacyPskcNamespace(uri: string | undefined): boolean {
  return uri !== undefined && LEGACY_PSKC_NAMESPACES.includes(uri);
}
