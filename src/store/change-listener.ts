import pg from 'pg';

export type ChangeEvent = { kind: 'user'; username: string } | { kind: 'tokens'; userId: bigint } | { kind: 'reset' };

/**
 * LISTENs on `radotp_changes` (see db/migrations/0002) on a dedicated connection, reconnecting on its
 * own. While the connection is down, `live` is false and caches must not be trusted: a change made
 * meanwhile would go unnoticed, so every reconnect also emits `reset`.
 */
export class ChangeListener {
  private client?: pg.Client;
  private stopped = false;
  private retry?: NodeJS.Timeout;
  live = false;

  constructor(
    private readonly url: string,
    private readonly onChange: (e: ChangeEvent) => void,
    private readonly log?: { warn(o: object, m: string): void },
    /** Called each time notifications become live (first connect and every reconnect). */
    private readonly onLive?: () => void,
  ) {}

  start(): void {
    void this.connect();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({ connectionString: this.url, application_name: 'radotp-listen', connectionTimeoutMillis: 3000 });
    this.client = client;
    const down = (why: string) => {
      if (this.client !== client) return;
      this.client = undefined;
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
    });
    try {
      await client.connect();
      await client.query('LISTEN radotp_changes');
      if (this.client !== client) return;
      this.onChange({ kind: 'reset' }); // whatever happened while we were not listening
      this.live = true;
      this.onLive?.();
    } catch (e) {
      down((e as Error).message);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    const c = this.client;
    this.client = undefined;
    this.live = false;
    await c?.end().catch(() => {});
  }
}
