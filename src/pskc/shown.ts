/**
 * How a value taken from an untrusted file appears in a message: at most SHOWN_LENGTH characters
 * (a 100 KB serial made a 100 KB error line), and every control character (C0, DEL, C1) written as
 * \xNN, so that a file cannot put terminal escape sequences or line breaks into the one-line
 * refusal an operator reads.
 */
export const SHOWN_LENGTH = 40;

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

export function shown(value: string): string {
  // Code points, not UTF-16 units, so an emoji is never cut in half; 2n+1 units hold at least n+1 points.
  const points = Array.from(value.slice(0, 2 * SHOWN_LENGTH + 1));
  const clipped = points.length > SHOWN_LENGTH ? `${points.slice(0, SHOWN_LENGTH).join('')}…` : value;
  return escapeControls(clipped);
}

/** `text` with every control character written as \xNN: what is printed stays on one line and inert. */
export function escapeControls(text: string): string {
  return text.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
