/**
 * A C0 control character or DEL. None belongs in a name or a one-line note an admin reads later, and
 * printed to a terminal, ESC starts escape sequences and CR/LF forge lines.
 */
export function hasControlCharacter(text: string): boolean {
  return C0_OR_DEL.test(text);
}

const C0_OR_DEL = /[\0-\x1f\x7f]/;
