import pg from 'pg';
import { KEEPALIVE } from './connect';

/** `clients`: some RADIUS client was added, changed or removed (migration 0014); the table is read again whole. */
export type ChangeEvent = { kind: 'user'; username: string } | { kind: 'tokens'; userId: bigint } | { kind: 'clients' } | { kind: 'reset' };

export interface ChangeListenerTiming {
  /** How often the connection is checked with a `SELECT 1` while it is live. */
  heartbeatMs?: number;
  /** How long that check may take before the connection is taken for lost. */
  timeoutMs?: number;
}

/**
 * LISTENs on `radotp_changes` (see db/migrations/0002 and 0014) on a dedicated connection, reconnecting on its
 * own. While the connection is down, `live` is false and caches must not be trusted: a change made
 * meanwhile would go unnoticed, so every reconnect also emits `reset`.
 *
 * A listening connection only receives, so nothing would ever tell it that its database went away without
 * a reset: after a virtual IP moves to a standby, the old connection stays open, hears nothing, and the
 * caches would be trusted for good while other nodes change users and tokens on the new primary. Hence the
 * heartbeat: a check that fails or goes unanswered counts as the connection lost.
 */
export class ChangeListener {
  private client?: pg.Client;
  private stopped = false;
  private retry?: NodeJS.Timeout;
  private heartbeat?: NodeJS.Timeout;
  private readonly heartbeatMs: number;
  private readonly timeoutMs: number;
  live = false;

  constructor(
    private readonly url: string,
    private readonly onChange: (e: ChangeEvent) => void,
    private readonly log?: { warn(o: object, m: string): void },
    /** Called each time notifications become live (first connect and every reconnect). */
    private readonly onLive?: () => void,
    timing: ChangeListenerTiming = {},
  ) {
    this.heartbeatMs = timing.heartbeatMs ?? 5000;
    this.timeoutMs = timing.timeoutMs ?? 10_000;
  }

  start(): void {
    void this.connect();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({
      connectionString: this.url,
      application_name: 'radotp-listen',
      connectionTimeoutMillis: 3000,
      query_timeout: this.timeoutMs,
      ...KEEPALIVE,
    });
    this.client = client;
    const down = (why: string) => {
      if (this.client !== client) return;
      this.client = undefined;
      clearInterval(this.heartbeat);
      if (this.live) this.log?.warn({ why }, 'change notifications lost; caches bypassed until they return');
      this.live = false;
      this.onChange({ kind: 'reset' });
      client.removeAllListeners('notification');
      client.end().catch(() => {});
      if (!this.stopped) this.retry = setTimeout(() => void this.connect(), 1000);
    };
    client.on('error', (e) => down(e.message));
    client.on('end', () => down('connection closed'));
    client.on('notification', (n) => {
      const payload = n.payload ?? '';
      if (payload.startsWith('user:')) this.onChange({ kind: 'user', username: payload.slice(5) });
      else if (payload.startsWith('tokens:')) this.onChange({ kind: 'tokens', userId: BigInt(payload.slice(7)) });
      else if (payload === 'clients') this.onChange({ kind: 'clients' });
    });
    try {
      await client.connect();
      await client.query('LISTEN radotp_changes');
      if (this.client !== client) return;
      this.onChange({ kind: 'reset' }); // whatever happened while we were not listening
      this.live = true;
      this.heartbeat = heartbeat(client, this.heartbeatMs, down);
      this.onLive?.();
    } catch (e) {
      down((e as Error).message);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    clearInterval(this.heartbeat);
    const c = this.client;
    this.client = undefined;
    this.live = false;
    await c?.end().catch(() => {});
  }
}

/** Checks `client` every `everyMs`, one check at a time (pg's query_timeout bounds each); the first failure calls `down`. */
function heartbeat(client: pg.Client, everyMs: number, down: (why: string) => void): NodeJS.Timeout {
  let checking = false;
  return setInterval(() => {
    if (checking) return;
    checking = true;
    client.query('SELECT 1').then(
      () => (checking = false),
      (e: unknown) => down(`heartbeat failed: ${(e as Error).message}`),
    );
  }, everyMs);
}
