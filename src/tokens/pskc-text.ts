import { firstControlCharacter } from '../lang/control-characters';
import type { PskcKey } from '../pskc';

/*
 * Text a PSKC key brings into the token table, which `token list`, `token show` and the audit log
 * print later. A control character there (C0, DEL, C1, and bidi overrides: see control-characters.ts) is either refused by PostgreSQL (NUL: "invalid
 * byte sequence for encoding UTF8", naming no key) or stored and later written raw to an operator's
 * terminal (ESC starts escape sequences; CR/LF forge lines). No real serial, vendor or label needs one.
 * The lengths bound what one file can make every later listing print.
 */
const STORED_TEXT: readonly { name: string; value: (k: PskcKey) => string | undefined; maxLength: number }[] = [
  { name: 'serial', value: (k) => k.serial ?? k.id, maxLength: 128 }, // the column's CHECK
  { name: 'Manufacturer', value: (k) => k.manufacturer, maxLength: 256 },
  { name: 'Model', value: (k) => k.model, maxLength: 256 },
  { name: 'Issuer', value: (k) => k.issuer, maxLength: 256 },
  { name: 'FriendlyName', value: (k) => k.friendlyName, maxLength: 256 },
];

/** Why a key's stored text cannot be imported, or undefined when it can. */
export function storedTextProblem(k: PskcKey): string | undefined {
  for (const { name, value, maxLength } of STORED_TEXT) {
    const text = value(k);
    if (text === undefined) continue;
    const control = firstControlCharacter(text);
    if (control !== undefined) {
      const code = control.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
      return `${name} contains the control character U+${code}, which would be stored and printed by token list`;
    }
    if (text.length > maxLength) return `${name} longer than ${maxLength} characters`;
  }
  return undefined;
}
