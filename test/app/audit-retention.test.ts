import { startAuditRetention, type AuditRetentionJob } from '../../src/app/audit-retention';
import { createLogger } from '../../src/obs/logger';
import type { PruneOptions, PruneResult } from '../../src/store/audit-retention';

const DAY_S = 86_400;

/** An audit repository whose prune() answers from a script, recording each cutoff it was given. */
function scriptedAudit(answers: (() => Promise<PruneResult>)[]) {
  const cutoffs: Date[] = [];
  const signals: PruneOptions['signal'][] = [];
  return {
    cutoffs,
    signals,
    prune: (cutoff: Date, opts?: PruneOptions) => {
      cutoffs.push(cutoff);
      signals.push(opts?.signal);
      const next = answers.shift();
      return next ? next() : Promise.resolve({ deleted: 0, busy: false });
    },
  };
}

const logged = () => {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('debug', { destination: { write: (l: string) => lines.push(JSON.parse(l)) } as never });
  return { logger, lines };
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('startAuditRetention', () => {
  let job: AuditRetentionJob | undefined;
  afterEach(() => job?.stop());

  test('prunes at start, at now minus the retention, then every interval', async () => {
    const audit = scriptedAudit([]);
    const before = Date.now();
    job = startAuditRetention({ retentionSeconds: 30 * DAY_S, audit, logger: logged().logger, intervalMs: 40 });
    expect(audit.cutoffs).toHaveLength(1); // at once, not after the first interval
    const first = audit.cutoffs[0].getTime();
    expect(first).toBeGreaterThanOrEqual(before - 30 * DAY_S * 1000);
    expect(first).toBeLessThanOrEqual(Date.now() - 30 * DAY_S * 1000);
    await sleep(150);
    expect(audit.cutoffs.length).toBeGreaterThanOrEqual(3);
    job.stop();
    const rounds = audit.cutoffs.length;
    await sleep(100);
    expect(audit.cutoffs).toHaveLength(rounds);
  });

  test('a round still running when the next is due is not started twice', async () => {
    let finish!: () => void;
    const audit = scriptedAudit([() => new Promise((resolve) => (finish = () => resolve({ deleted: 5, busy: false })))]);
    job = startAuditRetention({ retentionSeconds: DAY_S, audit, logger: logged().logger, intervalMs: 20 });
    await sleep(100);
    expect(audit.cutoffs).toHaveLength(1);
    finish();
    await job.running;
    await sleep(60);
    expect(audit.cutoffs.length).toBeGreaterThan(1);
  });

  test('stop() signals the round in progress to end after its batch', async () => {
    let finish!: () => void;
    const audit = scriptedAudit([() => new Promise((resolve) => (finish = () => resolve({ deleted: 1, busy: false })))]);
    job = startAuditRetention({ retentionSeconds: DAY_S, audit, logger: logged().logger, intervalMs: 1000 });
    expect(audit.signals[0]?.aborted).toBe(false);
    job.stop();
    expect(audit.signals[0]?.aborted).toBe(true);
    finish();
    await job.running;
  });

  test('counts and logs what was deleted; a failed round is logged and the next one runs', async () => {
    const { logger, lines } = logged();
    const pruned: number[] = [];
    const audit = scriptedAudit([
      () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432')),
      () => Promise.resolve({ deleted: 7, busy: false }),
      () => Promise.resolve({ deleted: 0, busy: true }),
    ]);
    job = startAuditRetention({ retentionSeconds: DAY_S, audit, logger, onPruned: (n) => pruned.push(n), intervalMs: 30 });
    await sleep(150);
    job.stop();
    await job.running;
    expect(pruned).toEqual([7]);
    expect(lines.map((l) => [l.level, l.msg, l.deleted, l.otherNodePruning])).toEqual(
      expect.arrayContaining([
        [40, 'could not prune the audit trail; trying again next round', undefined, undefined],
        [30, 'audit trail pruned', 7, undefined],
        [20, 'audit trail pruned', 0, true],
      ]),
    );
    // a round that found nothing to delete says nothing
    expect(lines.filter((l) => l.msg === 'audit trail pruned')).toHaveLength(2);
  });
});
