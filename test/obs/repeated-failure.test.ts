import { RepeatedFailureLog } from '../../src/obs/repeated-failure';

function recorder() {
  const lines: [string, string, object][] = [];
  return {
    lines,
    logger: { warn: (f: object, m: string) => lines.push(['warn', m, f]), info: (f: object, m: string) => lines.push(['info', m, f]) },
  };
}

describe('RepeatedFailureLog', () => {
  test('warns at the first failure, then once per interval with the unlogged count, then once on recovery', () => {
    let now = 0;
    const r = recorder();
    const log = new RepeatedFailureLog(r.logger, { failing: 'down', recovered: 'up' }, 60_000, () => now);
    log.succeeded(); // working all along: nothing to say
    for (; now < 125_000; now += 1000) log.failed({ err: 'refused' });
    log.succeeded();
    expect(r.lines).toEqual([
      ['warn', 'down', { err: 'refused' }],
      ['warn', 'down', { err: 'refused', unloggedRepeats: 59 }],
      ['warn', 'down', { err: 'refused', unloggedRepeats: 59 }],
      ['info', 'up', { failures: 125, failingMs: 125_000 }],
    ]);
  });

  test('a new outage after a recovery warns at once', () => {
    let now = 0;
    const r = recorder();
    const log = new RepeatedFailureLog(r.logger, { failing: 'down', recovered: 'up' }, 60_000, () => now);
    log.failed({});
    now = 1000;
    log.succeeded();
    now = 2000;
    log.failed({});
    expect(r.lines.map(([level, msg]) => `${level} ${msg}`)).toEqual(['warn down', 'info up', 'warn down']);
  });
});
