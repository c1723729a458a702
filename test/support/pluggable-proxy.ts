import net from 'node:net';

/**
 * A TCP proxy in front of PostgreSQL whose plug the test can pull: every proxied connection is cut at once and
 * new ones are refused (accepted, then reset) until it is restored. The code under test only knows the proxy's address.
 */
export class PluggableProxy {
  private readonly sockets = new Set<net.Socket>();
  private down = false;
  private stalled = false;
  private held: (() => void)[] = [];
  /** Sockets whose bytes are dropped for good (see strandOpenConnections). */
  private readonly stranded = new WeakSet<net.Socket>();
  /** Text whose sending cuts the connection that sends it (see cutWhenSent). */
  private cutOn: string | undefined;
  /** Text whose sending holds the connection's bytes from there on until restore (see holdWhenSent). */
  private holdOn: string | undefined;
  private readonly holding = new Set<net.Socket>();
  private constructor(private readonly server: net.Server) {}

  static async start(target: { host: string; port: number }): Promise<PluggableProxy> {
    const server = net.createServer();
    const proxy = new PluggableProxy(server);
    server.on('connection', (client) => proxy.accept(client, target));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  /** A proxy in front of the database at `url`, and the same URL through it (what the server under test is given). */
  static async inFrontOf(url: string): Promise<{ proxy: PluggableProxy; url: string }> {
    const target = new URL(url);
    const proxy = await PluggableProxy.start({ host: target.hostname, port: Number(target.port) });
    const viaProxy = new URL(url);
    viaProxy.port = String(proxy.port);
    return { proxy, url: viaProxy.toString() };
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  private accept(client: net.Socket, target: { host: string; port: number }): void {
    if (this.down) return void client.resetAndDestroy();
    const upstream = net.connect(target.port, target.host);
    for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
      this.sockets.add(from);
      from.on('error', () => to.destroy());
      from.on('close', () => {
        this.sockets.delete(from);
        to.destroy();
      });
      // While stalled, bytes wait here (as TCP would keep retransmitting them) and are delivered on restore.
      from.on('data', (chunk: Buffer) => {
        if (this.stranded.has(from)) return;
        if (from === client && this.cutOn !== undefined && chunk.includes(this.cutOn)) return void client.resetAndDestroy();
        if (from === client && this.holdOn !== undefined && chunk.includes(this.holdOn)) this.holding.add(client);
        if (this.stalled || this.holding.has(from)) this.held.push(() => to.write(chunk));
        else to.write(chunk);
      });
    }
  }

  /** The database stops answering without closing anything (a hung host, a dropped route): no RST, no FIN. */
  stall(): void {
    this.stalled = true;
  }

  /**
   * The connections open now lead nowhere from here on, and nothing closes them: what a node sees when the
   * database's host vanishes (a partition, a virtual IP moved to a standby) until its kernel gives up, some 15
   * minutes later. New connections go through as usual: the database is reachable again.
   */
  strandOpenConnections(): void {
    for (const s of this.sockets) this.stranded.add(s);
  }

  /**
   * A connection that sends `text` (a statement's text: the protocol sends it as it is) is reset instead, before
   * the database sees it; others go through. undefined: none is. What a connection lost between opening and its
   * first statement meets.
   */
  cutWhenSent(text: string | undefined): void {
    this.cutOn = text;
  }

  /**
   * A connection that sends `text` gets no answer to it, nor to anything it sends after, until restore (when they
   * are delivered in order, as a stalled TCP connection would); others go through. What a connection meets when
   * the database stops answering between opening it and its first statement's answer.
   */
  holdWhenSent(text: string): void {
    this.holdOn = text;
  }

  pullPlug(): void {
    this.down = true;
    for (const s of this.sockets) s.resetAndDestroy();
  }

  restore(): void {
    this.down = false;
    this.stalled = false;
    this.holdOn = undefined;
    this.holding.clear();
    for (const deliver of this.held.splice(0)) deliver();
  }

  get connections(): number {
    return this.sockets.size;
  }

  async close(): Promise<void> {
    this.pullPlug();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
