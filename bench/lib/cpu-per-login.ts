/**
 * The CPU one accepted login cost, in microseconds, from the shares of a CPU each party used over a round.
 *
 * On the benchmark's machine loadgen, the server and (for radotp) PostgreSQL share the same CPUs, so what
 * bounds a server's throughput there is not its own CPU alone but the whole machine's per login: a server
 * whose login costs the machine twice the anchor's can reach at most half the anchor's throughput, however
 * well it is scheduled, unless it keeps the CPUs busier than the anchor does.
 */
export interface CpuPerLogin {
  server_us: number;
  /** PostgreSQL's processes together; absent for a server that uses none (the FreeRADIUS anchor). */
  postgres_us?: number;
  loadgen_us: number;
  /** The sum: what one login cost the machine. */
  machine_us: number;
}

export interface CpuShares {
  /** Percent of one CPU, as loadgen and the harness report them (100 = one CPU busy the whole round). */
  server: number;
  loadgen: number;
  postgres?: number;
}

export function cpuPerLogin(acceptPerSecond: number, shares: CpuShares): CpuPerLogin | undefined {
  if (!(acceptPerSecond > 0) || !Number.isFinite(shares.server) || !Number.isFinite(shares.loadgen)) return undefined;
  const tenths = (x: number) => Math.round(x * 10) / 10;
  // percent of a CPU -> CPU-seconds a second -> microseconds a login
  const us = (pct: number) => tenths(((pct / 100) * 1e6) / acceptPerSecond);
  const server_us = us(shares.server);
  const loadgen_us = us(shares.loadgen);
  const postgres_us = shares.postgres === undefined || !Number.isFinite(shares.postgres) ? undefined : us(shares.postgres);
  const machine_us = tenths(server_us + loadgen_us + (postgres_us ?? 0));
  return { server_us, ...(postgres_us === undefined ? {} : { postgres_us }), loadgen_us, machine_us };
}

/** One round's figures as the round's line shows them: `server 35 + PostgreSQL 21 + loadgen 25 = 81 µs`. */
export function describeCpuPerLogin(c: CpuPerLogin): string {
  const parts = [`server ${c.server_us.toFixed(0)}`, ...(c.postgres_us === undefined ? [] : [`PostgreSQL ${c.postgres_us.toFixed(0)}`]), `loadgen ${c.loadgen_us.toFixed(0)}`];
  return `${parts.join(' + ')} = ${c.machine_us.toFixed(0)} µs`;
}
