import { spawn } from 'node:child_process';

export interface RadclientResult {
  /** "Access-Accept", "Access-Reject", "Access-Challenge", or null when no reply came. */
  readonly reply: string | null;
  readonly output: string;
  readonly exitCode: number | null;
}

/**
 * Drives FreeRADIUS's own client (Debian freeradius-utils) against our server: the interop oracle.
 * `pairs` is radclient's attribute list, e.g. 'User-Name=alice,User-Password=pw,Message-Authenticator=0x00'.
 */
export function radclient(opts: { port: number; secret: string; pairs: string; command?: 'auth' | 'status'; host?: string; retries?: number; timeoutS?: number }): Promise<RadclientResult> {
  const host = opts.host ?? '127.0.0.1';
  const target = host.includes(':') ? `[${host}]:${opts.port}` : `${host}:${opts.port}`;
  const args = ['-x', '-r', String(opts.retries ?? 1), '-t', String(opts.timeoutS ?? 1)];
  if (host.includes(':')) args.push('-6');
  args.push(target, opts.command ?? 'auth', opts.secret);
  return new Promise((resolve, reject) => {
    const child = spawn('radclient', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('close', (exitCode) => {
      const m = /Received (Access-\w+)/.exec(output);
      resolve({ reply: m ? m[1] : null, output, exitCode });
    });
    child.stdin.end(opts.pairs + '\n');
  });
}

/** radclient, repeated until Access-Accept (a server's client table refreshes every clientRefresh seconds). */
export async function radclientUntilAccepted(opts: { port: number; secret: string; pairs: string }, timeoutMs = 20_000): Promise<RadclientResult> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await radclient(opts);
    if (r.reply === 'Access-Accept') return r;
    if (Date.now() > deadline) throw new Error(`no Access-Accept within ${timeoutMs} ms; last answer: ${r.output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
