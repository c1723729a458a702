import pino from 'pino';

export type Logger = pino.Logger;

/**
 * One JSON line per event on stdout. Redaction is a second line of defence: no code path passes a
 * password, code, seed or secret to the logger, and these paths are censored if one ever did.
 */
export function createLogger(level: string, opts: { destination?: pino.DestinationStream; base?: Record<string, unknown> } = {}): Logger {
  return pino(
    {
      level,
      base: opts.base ?? { pid: process.pid },
      redact: {
        paths: ['password', 'secret', 'code', 'otp', 'seed', '*.password', '*.secret', '*.code', '*.otp', '*.seed'],
        censor: '[redacted]',
      },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    opts.destination ?? pino.destination({ fd: 1, sync: false }),
  );
}
