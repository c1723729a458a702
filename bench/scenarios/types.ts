import type { Anchor } from '../lib/freeradius';
import type { LoadSpec } from '../lib/loadgen';
import type { Store } from '../../src/store/open';
import type { LoginStyle } from '../../src/store/schema';

export interface BenchOptions {
  rounds: number;
  /** Rounds run first and not counted (every scenario, both servers). */
  warmRounds: number;
  concurrency: number;
  /** Requests measured per FreeRADIUS run (it does 15-45k/s here, so this takes about a second). */
  frCount: number;
  frWarmup: number;
  papCount: number;
  otpCount: number;
  appendCount: number;
  /** Cap in seconds on each measured phase. */
  duration: number;
}

export interface BenchContext {
  /** The harness's own connection to radotp's database (same key file as the server). */
  readonly store: Store;
  readonly workDir: string;
  readonly opts: BenchOptions;
  readonly anchor: Anchor;
  /** Radotp load runs each scenario must provision users for: one per round, one for the CPU profile, one per warm-up round. */
  readonly radotpRuns: number;
}

/**
 * One comparison. To add one: provision radotp users through the store, say how loadgen drives each server,
 * and list it in scenarios/index.ts.
 */
export interface Scenario {
  readonly name: string;
  readonly title: string;
  /** The login style of the RADIUS client radotp sees while this scenario runs. */
  readonly loginStyle: LoginStyle;
  /** undefined when it can run; else the reason it is skipped. */
  unavailable(): string | undefined;
  /** Creates radotp's users (before any load), writes loadgen users files under ctx.workDir. */
  provision(ctx: BenchContext): Promise<void>;
  /** loadgen settings against radotp for run `run` (0-based; rounds first, then the profile run). */
  radotpLoad(ctx: BenchContext, run: number): LoadSpec;
  /** loadgen settings against FreeRADIUS. */
  freeradiusLoad(ctx: BenchContext): LoadSpec;
}
