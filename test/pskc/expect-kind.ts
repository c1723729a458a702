import { isPskcError, type PskcError } from '../../src/pskc';

/** Runs `run`, expecting a PskcError of `kinds` (one kind, or any of several); returns it for further checks. */
export function expectKind(run: () => unknown, kinds: string | string[]): PskcError {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  expect(isPskcError(thrown)).toBe(true);
  expect([kinds].flat()).toContain((thrown as PskcError).kind);
  return thrown as PskcError;
}
