import { createLogger } from '../../src/obs/logger';

describe('createLogger: redaction', () => {
  function logged(fields: object): Record<string, unknown> {
    const lines: string[] = [];
    createLogger('info', { destination: { write: (line: string) => void lines.push(line) } }).info(fields, 'line');
    return JSON.parse(lines[0]!) as Record<string, unknown>;
  }

  // [field, value, as logged]: an OTP code must never reach the log; a RADIUS packet code is logged as packetCode
  const cases: [string, unknown, unknown][] = [
    ['code', '123456', '[redacted]'],
    ['password', 'hunter2', '[redacted]'],
    ['packetCode', 2, 2],
    ['errno', 'EADDRNOTAVAIL', 'EADDRNOTAVAIL'],
  ];
  test.each(cases)('%s: %p is logged as %p', (field, value, expected) => {
    expect(logged({ [field]: value })[field]).toEqual(expected);
  });
});
