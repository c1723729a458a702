import type { Logger } from '../obs/logger';
import type { AuditRepository } from '../store/audit';

export interface AuditRetentionJob {
  /** The round now running, if any (tests and shutdown wait for it). */
  readonly running: Promise<void> | undefined;
  stop(): void;
}

/**
 * Deletes the audit events older than `retentionSeconds`: once at start, then every `intervalMs`.
 * Every node runs it; the pruning lock lets one of them do each round (see pruneAuditEvents). A round
 * that fails (the database away) is logged and left to the next: nothing is lost by waiting.
 */
export function startAuditRetention(o: {
  retentionSeconds: number;
  audit: Pick<AuditRepository, 'prune'>;
  logger: Logger;
  onPruned?: (deleted: number) => void;
  intervalMs?: number;
}): AuditRetentionJob {
  let running: Promise<void> | undefined;
  // A first round on a trail that was never pruned can take long; stopping the node must not wait for it.
  const stopping = new AbortController();
  const round = () => {
    if (running) return; // a long first round on a big trail: the next tick finds it still going
    const cutoff = new Date(Date.now() - o.retentionSeconds * 1000);
    running = o.audit.prune(cutoff, { signal: stopping.signal }).then(
      ({ deleted, busy }) => {
        const fields = { deleted, before: cutoff.toISOString(), otherNodePruning: busy || undefined };
        if (deleted > 0) {
          o.onPruned?.(deleted);
          o.logger.info(fields, 'audit trail pruned');
        } else if (busy) o.logger.debug(fields, 'audit trail pruned'); // another node's round: routine, every hour
      },
      (e) => o.logger.warn({ err: (e as Error).message }, 'could not prune the audit trail; trying again next round'),
    ).finally(() => (running = undefined));
  };
  round();
  const timer = setInterval(round, o.intervalMs ?? 3_600_000);
  timer.unref();
  return {
    get running() {
      return running;
    },
    stop: () => {
      clearInterval(timer);
      stopping.abort();
    },
  };
}
