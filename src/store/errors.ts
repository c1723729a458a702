/** A request the admin made that the data does not allow (duplicate name, unknown user...). One clear line. */
export class StoreConflictError extends Error {
  override name = 'StoreConflictError';
}
export class NotFoundError extends Error {
  override name = 'NotFoundError';
}

/** PostgreSQL unique_violation, for turning a race into a clear message. */
export function isUniqueViolation(e: unknown): boolean {
  return (e as { code?: string })?.code === '23505';
}

/** PostgreSQL foreign_key_violation: a row refers to one removed meanwhile (a token given to a user being removed). */
export function isForeignKeyViolation(e: unknown): boolean {
  return (e as { code?: string })?.code === '23503';
}
