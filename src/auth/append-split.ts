/**
 * The append login style: User-Password is the password immediately followed by the code. Where the
 * password ends is not marked, so the field is split once per code length that could end it, and each
 * split costs one password hash.
 *
 * That cost is also a timing signal: a reject that took two hashes comes from a user holding tokens of
 * two lengths, one that took one hash from anybody else. So every wrong append login pays as many
 * hashes as the field has splits for the code lengths in use anywhere in the deployment (its own
 * lengths included), the missing ones as decoys: unknown names, users of the password method and token
 * users alike. A deployment whose tokens all have one length pays one hash, as before.
 */

/** The text the code is cut from: whitespace after the code is not part of it (inside, it may be the password's). */
export function appendText(typed: Buffer | undefined): string {
  return (typed ?? EMPTY).toString('utf8').trimEnd();
}

const EMPTY = Buffer.alloc(0);

/**
 * The code lengths `text` can be split at, longest first: it ends in that many ASCII digits with at
 * least one character (the password) before them. Each length once, however often it is given.
 */
export function codeSplits(text: string, lengths: Iterable<number>): number[] {
  const splits: number[] = [];
  for (const digits of lengths) {
    if (splits.includes(digits) || text.length <= digits || !endsInDigits(text, digits)) continue;
    splits.push(digits);
  }
  return splits.sort((a, b) => b - a);
}

function endsInDigits(text: string, count: number): boolean {
  for (let i = text.length - count; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/**
 * How many password hashes a wrong append login with `typed` costs: one per split over the lengths in
 * use (`inUse`) and the user's own (`own`, which a deployment list read a moment ago may not hold yet),
 * and one when the field ends in no code at all (it is then checked whole as the password).
 */
export function appendHashCost(typed: Buffer | undefined, inUse: readonly number[], own: readonly number[] = []): number {
  const text = appendText(typed);
  return Math.max(1, codeSplits(text, own.length ? [...inUse, ...own] : inUse).length);
}
