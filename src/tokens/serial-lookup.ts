import { NotFoundError } from '../store/errors';
import type { TokenRepository } from '../store/tokens';

/** A serial typed that matches several tokens ignoring case, and none exactly: the admin must choose. */
export class AmbiguousSerialError extends Error {
  override name = 'AmbiguousSerialError';
}

/**
 * The serial of the token an admin means by `typed`. Serials are read off a fob and typed (`gal12345678` for
 * `GAL12345678`), so case is forgiven: the token of exactly that serial if there is one, else the one token
 * whose serial equals it ignoring case. Several such tokens (imported before imports refused them, see
 * importPskcFile) are named, and none is picked: a disable or delete must not land on the wrong fob.
 */
export async function resolveSerial(tokens: Pick<TokenRepository, 'find' | 'serialsIgnoringCase'>, typed: string): Promise<string> {
  if (await tokens.find(typed)) return typed;
  const matches = await tokens.serialsIgnoringCase(typed);
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new NotFoundError(`no token with serial "${typed}"`);
  throw new AmbiguousSerialError(`serial "${typed}" matches ${matches.join(', ')} ignoring case: type it exactly`);
}
