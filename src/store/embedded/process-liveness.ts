import { readFileSync } from 'node:fs';

/**
 * Whether a PID names a live process. `kill(pid, 0)` alone is not enough: a zombie (exited, not yet reaped)
 * still answers, and in containers whose PID 1 does not reap, an exited postmaster stays a zombie for good.
 */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    // EPERM: it exists but belongs to another user.
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return procStat(pid)?.state !== 'Z';
}

/**
 * A token that changes when a PID is reused: the process start time in clock ticks since boot (Linux /proc).
 * Elsewhere it is empty and liveness falls back to the PID alone.
 */
export function processStartTime(pid: number): string {
  return procStat(pid)?.startTime ?? '';
}

/** Alive, and — when a start time was recorded — still the same process that recorded it. */
export function isSameProcessAlive(pid: number, startTime: string): boolean {
  if (!isProcessAlive(pid)) return false;
  return startTime === '' || processStartTime(pid) === '' || processStartTime(pid) === startTime;
}

/** The short command name (`/proc/<pid>/comm`), or undefined where /proc is not available. */
export function processCommand(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function procStat(pid: number): { state: string; startTime: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Field 2 (comm) may contain spaces and parentheses, so parse from the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); field 22 (starttime) is fields[19].
  return { state: fields[0] ?? '', startTime: fields[19] ?? '' };
}
