import { timeoutCause, type TimeoutCause } from './connect';

/**
 * Which clock ended a statement, in the words of the one who set it, with the SQLSTATE to search the logs for
 * (see TimeoutCause in connect.ts). PostgreSQL's own message ("canceling statement due to lock timeout") is
 * written in the server's lc_messages language and names no setting; a DBA's lock_timeout or statement_timeout
 * (ALTER ROLE … IN DATABASE … SET) otherwise read as the database being unreachable.
 */
const WORDING: Readonly<Record<TimeoutCause, string>> = {
  // "Abort any statement that waits longer than the specified amount of time while attempting to acquire a lock"
  lock_timeout: 'lock_timeout, SQLSTATE 55P03: another session held a lock it waited for',
  // "Abort any statement that takes more than the specified amount of time"; a pg_cancel_backend gives the same SQLSTATE
  statement_canceled: 'statement_timeout or a cancel request, SQLSTATE 57014: PostgreSQL canceled it',
  query_timeout: 'database.queryTimeout: no answer in time',
};

/** What ended `e`'s statement, when a clock did ("lock_timeout, SQLSTATE 55P03: …"); undefined otherwise. */
export function timeoutWording(e: unknown): string | undefined {
  const cause = timeoutCause(e);
  return cause === undefined ? undefined : WORDING[cause];
}
