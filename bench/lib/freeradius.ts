import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SHARED_BENCH } from './loadgen';
import { run, udpPortInUse } from './util';

export const ANCHOR_PORT = 18120;
export const ANCHOR_SECRET = 'benchsecret';

export interface Anchor {
  readonly dir: string;
  readonly pid: number;
  readonly version: string;
  usersFile(kind: 'pap' | 'totp' | 'otp'): string;
  stop(): Promise<void>;
}

function script(): string {
  return join(SHARED_BENCH, 'freeradius-anchor.sh');
}

/** FreeRADIUS 3.2 from Debian (installed by the script on first use) on 127.0.0.1:18120. */
export async function startAnchor(dir: string): Promise<Anchor> {
  const env = { ...process.env, ANCHOR_DIR: dir };
  // A stale instance of ours (an earlier interrupted run) is stopped first; someone else's is an error.
  await run('sh', [script(), 'stop'], { env });
  if (await udpPortInUse(ANCHOR_PORT)) {
    throw new Error(`UDP 127.0.0.1:${ANCHOR_PORT} is already in use (another FreeRADIUS anchor running?); stop it or wait`);
  }
  const r = await run('sh', [script(), 'start'], { env });
  const pid = Number(r.stdout.trim().split('\n').at(-1));
  if (r.code !== 0 || !Number.isInteger(pid)) throw new Error(`freeradius-anchor.sh start failed (exit ${r.code}): ${r.stderr.trim()}`);
  const v = await run('freeradius', ['-v']);
  const version = /FreeRADIUS Version ([\d.]+)/.exec(v.stdout + v.stderr)?.[1] ?? '?';
  let stopped = false;
  return {
    dir,
    pid,
    version,
    usersFile: (kind) => join(dir, `users-${kind}.txt`),
    async stop() {
      if (stopped) return;
      stopped = true;
      await run('sh', [script(), 'stop'], { env });
    },
  };
}

export function countLines(file: string): number {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() && !l.startsWith('#')).length;
}
