import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import { cliEnv, RADOTP_BIN, type RunAsUser } from './cli';

/* `radotp serve` as a real child process, and what tests of such processes need around it. */

/** Ports other suites (and people) use on this machine. */
const RESERVED_UDP_PORTS = new Set([18120, 18121, 18130, 18131, 18199]);

export async function freePort(kind: 'udp' | 'tcp'): Promise<number> {
  for (;;) {
    const port =
      kind === 'udp'
        ? await new Promise<number>((resolve) => {
            const s = dgram.createSocket('udp4');
            s.bind(0, '127.0.0.1', () => {
              const p = s.address().port;
              s.close(() => resolve(p));
            });
          })
        : await new Promise<number>((resolve) => {
            const s = net.createServer();
            s.listen(0, '127.0.0.1', () => {
              const p = (s.address() as net.AddressInfo).port;
              s.close(() => resolve(p));
            });
          });
    if (!RESERVED_UDP_PORTS.has(port)) return port;
  }
}

/** Alive and not a zombie (an exited postmaster re-parented to a PID 1 that does not reap stays one). */
export function isRunning(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Live processes whose command line mentions `text` (e.g. a postmaster's -D <pgdata>). */
export function processesMentioning(text: string): string[] {
  return execFileSync('ps', ['-eo', 'pid=,stat=,args='], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(text) && !/^\s*\d+\s+Z/.test(line));
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `radotp serve` as a child process, with its output kept for failure messages. */
export class ServeProcess {
  output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private constructor(readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.setEncoding('utf8').on('data', (d: string) => (this.output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (this.output += d));
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  /** `as`: run it as that user (root only), as a systemd service's own account would. */
  static start(configFile: string, opts: { as?: RunAsUser } = {}): ServeProcess {
    return ServeProcess.spawn([process.execPath, RADOTP_BIN, 'serve', '--config', configFile], cliEnv(), opts);
  }

  /** Any command line that runs `radotp serve` (an image's entrypoint, say), with exactly this environment. */
  static spawn(command: readonly string[], env: NodeJS.ProcessEnv, opts: { as?: RunAsUser } = {}): ServeProcess {
    return new ServeProcess(spawn(command[0]!, command.slice(1), { env, stdio: 'pipe', ...opts.as }));
  }

  /** SIGTERM, then how it ended: `{ code: 0, signal: null, output: '' }` for a clean stop (the output only otherwise). */
  async terminate(): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
    this.child.kill('SIGTERM');
    const { code, signal } = await this.exited;
    return { code, signal, output: code === 0 ? '' : this.output };
  }

  async serving(): Promise<void> {
    await waitFor('"radotp serving"', () => {
      if (this.child.exitCode !== null) throw new Error(`radotp serve exited (${this.child.exitCode}):\n${this.output}`);
      return this.output.includes('"msg":"radotp serving"') ? true : undefined;
    }, 90_000);
  }
}

