import { internalErrorLog } from '../../src/app/pipeline';
import { KeyError } from '../../src/secrets/keyring';

/*
 * A misconfiguration fails every login: the log says so once per distinct message every 10 s, with how
 * many were left out, instead of once per request. A key problem is the operator's, so no stack.
 */
function capture() {
  const lines: { fields: Record<string, unknown>; msg: string }[] = [];
  const logger = { error: (fields: Record<string, unknown>, msg: string) => lines.push({ fields, msg }) };
  return { log: internalErrorLog(logger as never), lines };
}

test('one line per distinct message, not one per login', () => {
  const { log, lines } = capture();
  for (let i = 0; i < 100; i++) log(new KeyError('sealed with key 00ff, which this node does not hold'));
  log(new TypeError('x is undefined'));
  expect(lines.map((l) => l.msg)).toEqual(['a secret this login needs is sealed under a key this node does not hold', 'internal error while deciding']);
  expect(lines[0]!.fields).toEqual({ err: 'sealed with key 00ff, which this node does not hold', suppressed: 0 });
  expect(String(lines[1]!.fields.err)).toMatch(/^TypeError: x is undefined\n\s+at /);
});
