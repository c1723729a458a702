import { PskcError } from './errors';
import type { XmlElement } from './xml-tree';

/**
 * Elements we interpret must be in a namespace we know. Matching is by namespace URI, so
 * an element in a foreign namespace is never mistaken for a PSKC one — but silently
 * ignoring it would let a tampered file hide, say, a <ValueMAC> by moving it into
 * another namespace. So a foreign element anywhere we interpret is an error, except:
 *  - inside <Extensions> (RFC 6030 §4: the extension point for other namespaces);
 *  - inside <Policy>, where RFC 6030 §5 wants unknown elements to make the key unusable,
 *    not the file unreadable (policy.ts records them);
 *  - inside ds:* elements (signatures and certificates, never interpreted for secrets);
 *  - unqualified children of PBKDF2-params, as the PKCS#5 v2.0 schema defines them.
 */
export function assertKnownNamespaces(element: XmlElement, line: number, insidePbkdf2 = false): void {
  if (element.group === undefined || (element.group === 'none' && !insidePbkdf2)) {
    throw new PskcError(
      'unsupported_namespace',
      `<${element.local}> is in ${element.ns ? `namespace "${element.ns}"` : 'no namespace'}, which is not a PSKC, XML Encryption, XML Signature or PKCS#5 namespace`,
      { line },
    );
  }
  if (element.group === 'dsig') return;
  if (element.group === 'pskc' && (element.local === 'Extensions' || element.local === 'Policy')) return;
  const pbkdf2 = insidePbkdf2 || element.local === 'PBKDF2-params';
  for (const child of element.children) assertKnownNamespaces(child, line, pbkdf2);
}
