/**
 * A character a terminal acts on or reorders instead of showing: a C0 control character or DEL, a C1 control
 * (U+0080-U+009F; U+009B is CSI, which xterm takes as ESC [), the line and paragraph separators, or a bidi
 * override, embedding or isolate (U+202E shows "eve<RLO>nimda" as "eveadmin"). None belongs in a name or a one-line
 * note an admin reads later, and printed to a terminal, ESC starts escape sequences and CR/LF forge lines.
 */
export function hasControlCharacter(text: string): boolean {
  return CONTROL.test(text);
}

/** The first character of `text` that hasControlCharacter means, to name it in a refusal. */
export function firstControlCharacter(text: string): string | undefined {
  return CONTROL.exec(text)?.[0];
}

/**
 * `text` as one line a terminal shows as it is: every such character written as an escape (`\n`, `\x1b`, `\x9b`,
 * `\u202e`). Messages quote what an admin typed or a file held (a name, a value), and tables what came in a packet
 * (the audit trail's User-Name): a line break there cut the message short or made it two lines, an escape sequence
 * reached the terminal, where it could recolour, clear or rewrite what the admin reads, and a bidi override showed
 * one name as another.
 */
export function printable(text: string): string {
  return text.replace(ALL_CONTROL, (c) => NAMED_ESCAPES[c] ?? escapeOf(c.charCodeAt(0)));
}

function escapeOf(code: number): string {
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

const CONTROL = /[\0-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const ALL_CONTROL = new RegExp(CONTROL.source, 'g');
const NAMED_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
