import { papScenario } from './pap';
import { appendScenario, otpOnlyScenario } from './totp';
import type { Scenario } from './types';

/** Every scenario, in the order they run within a round. */
export const SCENARIOS: readonly Scenario[] = [papScenario, otpOnlyScenario, appendScenario];
