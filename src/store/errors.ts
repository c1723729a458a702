/** A request the admin made that the data does not allow (duplicate name, unknown user...). One clear line. */
export class StoreConflictError extends Error {
  override name = 'StoreConflictError';
}
export class NotFoundError extends Error {
  override name = 'NotFoundError';
}

/**
 * The user a login is being decided for was removed meanwhile (`radotp user remove`): found a moment ago (in a
 * server's cache, whose notification of the removal is still on its way), their rows are gone now. The login is
 * refused as for an unknown user, which it now is: not as a wrong password or code, nor as an internal error.
 */
export class UserRemovedError extends Error {
  override name = 'UserRemovedError';
  constructor() {
    super('the user was removed while their login was decided');
  }
}

/**
 * The user's method changed (`radotp user set --method`) since the login found them (in a server's cache, whose
 * notification of the change is still on its way): the login must be decided again, under the method they have
 * now. Told by the password's read, fresh at every check (see LocalPasswordFactor).
 */
export class UserChangedError extends Error {
  override name = 'UserChangedError';
  constructor() {
    super("the user's method changed while their login was decided");
  }
}

/** PostgreSQL unique_violation, for turning a race into a clear message. */
export function isUniqueViolation(e: unknown): boolean {
  return (e as { code?: string })?.code === '23505';
}

/** PostgreSQL foreign_key_violation: a row refers to one removed meanwhile (a token given to a user being removed). */
export function isForeignKeyViolation(e: unknown): boolean {
  return (e as { code?: string })?.code === '23503';
}
