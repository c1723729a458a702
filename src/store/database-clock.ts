import { sql } from 'kysely';
import type { Db } from './connect';

/** How many round trips a reading takes, the shortest kept (see sync). */
const READINGS = 3;

/**
 * The database server's clock, read on this node without a query per use: a reading of PostgreSQL's
 * clock_timestamp(), carried forward by this process's monotonic clock (performance.now).
 *
 * Why: the nodes of a cluster share their tokens' state in PostgreSQL, and part of it only means something
 * against a clock. A TOTP token's learnt drift is "matched step − current step" by the clock of the node that
 * accepted it; `locked_until` is set (and enforced by the spend's guard) by the database's now(). Read against
 * another node's wall clock a few seconds off, a drift learnt on one node shifted the window of the next (a
 * phone one step behind was refused on the other node), and a token whose lock had run out for the database
 * was still `locked` for a node whose clock lagged. So every decision on such state goes by one clock, the
 * database's, on every node and in the CLI. The node's own wall clock does not enter it at all (only until the
 * first reading), so an NTP step on the node moves nothing either.
 */
export class DatabaseClock {
  /** The database's Unix time in ms minus `monotonic()` at the same instant; undefined until a reading. */
  #base: number | undefined;

  constructor(
    private readonly monotonic: () => number = () => performance.now(),
    private readonly wall: () => number = Date.now,
  ) {}

  /** Unix time in seconds by the database's clock (by this node's wall clock until the first reading). */
  readonly now = (): number => this.nowMs() / 1000;

  nowMs(): number {
    return this.#base === undefined ? this.wall() : this.#base + this.monotonic();
  }

  /** How far the database's clock is ahead of this node's wall clock, in ms (0 before a reading). */
  offsetFromWallMs(): number {
    return this.#base === undefined ? 0 : this.nowMs() - this.wall();
  }

  /**
   * Takes a reading: clock_timestamp() placed halfway through the shortest of READINGS round trips on one
   * connection (off by half that one's asymmetry at most). WHY: a single round trip timed from before the pool
   * handed out a connection counted the wait for one as part of it. The minute's reading runs beside the purges
   * (see serve.ts), so a busy pool put the database's time off by half the wait: ahead, every TOTP step began
   * early on that node, and a code sent at the end of its step read as the next one's; behind, a code at the start
   * of its step read as the one before, outside a window centred one step back by a learnt drift. Timed on the
   * connection, and the shortest of a few round trips: a reply held up by a busy CPU makes one reading's round
   * trip long and lopsided, not all of them.
   */
  async sync(db: Db): Promise<void> {
    const readOn = async (conn: Db): Promise<number> => {
      let best: { roundTrip: number; base: number } | undefined;
      for (let i = 0; i < READINGS; i++) {
        const sent = this.monotonic();
        const r = await sql<{ ms: number }>`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms`.execute(conn);
        const received = this.monotonic();
        if (best === undefined || received - sent < best.roundTrip) best = { roundTrip: received - sent, base: Number(r.rows[0]!.ms) - (sent + received) / 2 };
      }
      return best!.base;
    };
    // a transaction (a CLI command's) is on its connection already
    this.#base = db.isTransaction ? await readOn(db) : await db.connection().execute(readOn);
  }

  /** A clock read once now (for a CLI command, which lasts seconds). */
  static async read(db: Db): Promise<DatabaseClock> {
    const clock = new DatabaseClock();
    await clock.sync(db);
    return clock;
  }
}
