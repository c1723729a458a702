/**
 * A C0 control character or DEL. None belongs in a name or a one-line note an admin reads later, and
 * printed to a terminal, ESC starts escape sequences and CR/LF forge lines.
 */
export function hasControlCharacter(text: string): boolean {
  return C0_OR_DEL.test(text);
}

/**
 * `text` as one line a terminal shows as it is: every C0 control character and DEL written as an escape (`\n`,
 * `\x1b`). Messages quote what an admin typed or a file held (a name, a value): a line break there cut the
 * message short or made it two lines, and an escape sequence reached the terminal, where it could recolour,
 * clear or rewrite what the admin reads.
 */
export function printable(text: string): string {
  return text.replace(ALL_C0_OR_DEL, (c) => NAMED_ESCAPES[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

const C0_OR_DEL = /[\0-\x1f\x7f]/;
const ALL_C0_OR_DEL = new RegExp(C0_OR_DEL.source, 'g');
const NAMED_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
