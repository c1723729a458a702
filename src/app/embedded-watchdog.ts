import { repeatEvery, type Repeating } from '../lang/repeat';
import type { EmbeddedPostgresHandle } from '../store/embedded-postgres';

export type EmbeddedWatchdog = Repeating;

interface WatchdogLogger {
  warn(o: object, m: string): void;
  error(o: object, m: string): void;
}

/**
 * The embedded PostgreSQL belongs to this server: if it stops (killed, crashed, stopped by hand) nobody else
 * will start it, and every login would go unanswered until radotp is restarted. So every `intervalMs` the
 * server checks it and starts it again on the same port, where its connection pool reconnects by itself.
 * Should it be running on another port instead (started by another process while that port was taken),
 * the pool cannot follow: `onLost` is called, for the server to stop and exit non-zero so that a supervisor
 * restarts it.
 */
export function watchEmbeddedDatabase(opts: {
  database: Pick<EmbeddedPostgresHandle, 'revive'>;
  logger: WatchdogLogger;
  onLost: (why: string) => void;
  intervalMs?: number;
}): EmbeddedWatchdog {
  let failing = false;
  return repeatEvery(opts.intervalMs ?? 2000, async () => {
    try {
      const state = await opts.database.revive();
      if (state === 'moved') {
        opts.onLost('the embedded PostgreSQL was started again on another port');
        return 'done';
      }
      if (failing || state === 'restarted') opts.logger.warn({ state }, 'embedded PostgreSQL had stopped; it runs again');
      failing = false;
    } catch (e) {
      // e.g. its old backends still hold the shared memory for a moment: tried again next round, said once
      if (!failing) opts.logger.error({ err: (e as Error).message }, 'embedded PostgreSQL has stopped and could not be started again yet; retrying');
      failing = true;
    }
  });
}
