import { readdirSync, readFileSync } from 'node:fs';

/*
 * What the benchmark reads from /proc about the processes it measures.
 *
 * How long a process's threads were ready to run but waited for a CPU: the second field of
 * /proc/<pid>/task/<tid>/schedstat ("time spent waiting on a runqueue", nanoseconds; Linux
 * Documentation/scheduler/sched-stats.rst). On a machine where loadgen, the server and PostgreSQL
 * share two CPUs, this is latency no change to the server's own code path can remove.
 */

function readNumber(path: string, field: number): number {
  try {
    return Number(readFileSync(path, 'utf8').trim().split(/\s+/)[field]);
  } catch {
    return 0; // the thread or process exited meanwhile
  }
}

/** A schedstat field (0: time run on a CPU, 1: time waited on a runqueue), in seconds, summed over `pid`'s threads. */
function schedstatSeconds(pid: number, field: 0 | 1): number {
  let ns = 0;
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0;
  }
  for (const tid of tids) ns += readNumber(`/proc/${pid}/task/${tid}/schedstat`, field);
  return ns / 1e9;
}

/** Seconds all threads of `pid` have waited on a runqueue so far. */
export function runQueueSeconds(pid: number): number {
  return schedstatSeconds(pid, 1);
}

/** Seconds all threads of `pid` have run on a CPU so far (to the nanosecond, where /proc/<pid>/stat counts ticks). */
export function runSeconds(pid: number): number {
  return schedstatSeconds(pid, 0);
}

/** Run-queue seconds per process (see runQueueSeconds), taken at one moment. */
export type RunQueueSnapshot = ReadonlyMap<number, number>;

export function runQueueSnapshot(pids: readonly number[]): RunQueueSnapshot {
  return new Map(pids.map((pid) => [pid, runQueueSeconds(pid)]));
}

/**
 * Seconds waited between two snapshots by the processes alive at the second; one started meanwhile counts
 * from zero. A process that exited meanwhile took its figures with it: subtracting its first figure from a
 * sum that no longer held it made PostgreSQL's wait read negative (-657 %) in rounds where backends exited.
 */
export function waitedBetween(before: RunQueueSnapshot, after: RunQueueSnapshot): number {
  let seconds = 0;
  for (const [pid, now] of after) seconds += now - (before.get(pid) ?? 0);
  return seconds;
}

/**
 * Every process's /proc/<pid>/stat fields after "(comm)" (state, ppid, ..., utime at [11], stime [12],
 * cutime [13], cstime [14]; proc(5) numbers them from 3), skipping processes that exit meanwhile.
 */
export function* processStats(): Generator<{ pid: number; fields: string[] }> {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    yield { pid: Number(name), fields: stat.slice(stat.lastIndexOf(')') + 2).split(' ') };
  }
}

/** The pids whose parent is `ppid` (PostgreSQL's backends, walwriter, ... are the postmaster's children). */
export function childPids(ppid: number): number[] {
  const pids: number[] = [];
  for (const { pid, fields } of processStats()) if (Number(fields[1]) === ppid) pids.push(pid);
  return pids;
}
