import { z } from 'zod';
import { DEFAULT_AUTH_PORT, parseListenAddress } from '../radius/listen-address';
import { hasControlCharacter } from '../lang/control-characters';
import { formatDuration, parseDurationIn, parseRetentionSeconds, RETENTION_RANGE, type DurationRange } from './duration';

/** Where /healthz and /metrics are served when http.listen names no port. */
export const DEFAULT_HTTP_PORT = 9812;

/**
 * "host:port" or "[v6]:port" (IP literals only); refused at start-up with its key path when wrong. An address
 * without a port gets that key's own default port, written out: `http.listen: 127.0.0.1` used to serve HTTP
 * on 1812, the RADIUS port.
 */
const listenAddress = (defaultPort: number) =>
  z.string().transform((text, ctx) => {
    const r = parseListenAddress(text, defaultPort);
    if (!r.ok) {
      ctx.addIssue({ code: 'custom', message: r.error });
      return z.NEVER;
    }
    const { host, port } = r.value;
    return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  });

/**
 * One address twice (as written, or "127.0.0.1" and "127.0.0.1:1812") failed at start-up as "the port is in use
 * (another radotp or RADIUS server?)", sending the admin after a process that was not there. Port 0 asks the OS
 * for a free port each time, so it may repeat.
 */
const distinctAddresses = (key: string) => (list: string[], ctx: z.RefinementCtx) => {
  list.forEach((address, i) => {
    const first = list.indexOf(address);
    if (first < i && !address.endsWith(':0')) ctx.addIssue({ code: 'custom', path: [i], message: `the same address as ${key}.${first} (${address})` });
  });
};

/**
 * A duration key, in seconds, within `range` (inclusive). Every duration has both bounds: 0 and 1e308 parse
 * as durations, but one reloaded the client table every millisecond and the other overflowed PostgreSQL.
 * The message states the range and the default as an example, whatever was wrong (form or size).
 */
const duration = (fallback: number, range: DurationRange) => {
  const expected = `expected a duration from ${formatDuration(range.min)} to ${formatDuration(range.max)}, such as "${formatDuration(fallback)}" (a number alone is seconds)`;
  return z
    .union([z.number(), z.string()], { error: expected })
    .default(fallback)
    .transform((v, ctx) => {
      const s = parseDurationIn(v, range);
      if (s === undefined) {
        ctx.addIssue({ code: 'custom', message: expected });
        return z.NEVER;
      }
      return s;
    });
};

const MINUTE = 60;
const HOUR = 3600;
const DAY = 86_400;

/** How long audit events are kept: null (the default) keeps them all; else a day to 100 years (see RETENTION_RANGE). */
const RETENTION_EXPECTED = `expected a duration from ${formatDuration(RETENTION_RANGE.min)} to ${formatDuration(RETENTION_RANGE.max)} (100 years), such as "90d" (a number alone is seconds), or null to keep every event`;
const retention = z
  .union([z.number(), z.string()], { error: RETENTION_EXPECTED })
  .nullable()
  .default(null)
  .transform((v, ctx) => {
    if (v === null) return null;
    const s = parseRetentionSeconds(v);
    if (s === undefined) {
      ctx.addIssue({ code: 'custom', message: RETENTION_EXPECTED });
      return z.NEVER;
    }
    return s;
  });

/**
 * Text without control characters, as the CLI takes the same values (`token enroll --issuer`, user names): node.name
 * is on every log line and audit row, the messages reach a NAS that may show them on a user's terminal (pam_radius),
 * and a NUL in a path failed only later, as "cannot read (ERR_INVALID_ARG_VALUE)".
 */
const text = () => z.string().min(1).refine((v) => !hasControlCharacter(v), 'must not contain control characters');

/** A config section; an empty YAML section (only comments under the key) reads as null and means "all defaults". */
const section = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === null ? undefined : v), schema);

export const AUTH_METHODS = ['password', 'token'] as const;
export type AuthMethodName = (typeof AUTH_METHODS)[number];

export const configSchema = z.strictObject({
  radius: section(
  z
    .strictObject({
      listen: z.array(listenAddress(DEFAULT_AUTH_PORT)).min(1).superRefine(distinctAddresses('radius.listen')).default(['0.0.0.0:1812', '[::]:1812']),
      /** Extra FreeRADIUS-format dictionary files loaded after the bundled ones. */
      dictionaries: z.array(text()).default([]),
      /** Requests being authenticated at once; more are dropped (the NAS retries or fails over). */
      maxPending: z.number().int().min(1).max(1_000_000).default(1024),
      /**
       * RFC 5080 §2.2.2 duplicate detection window. At least a second (0 would turn detection off, and a
       * retransmission processed again burns the code); at most 10 minutes, far beyond any NAS's retries.
       */
      duplicateWindow: duration(30, { min: 1, max: 10 * MINUTE }),
      duplicateCacheSize: z.number().int().min(100).max(10_000_000).default(100_000),
      /**
       * Bytes the kernel may queue per RADIUS socket before radotp reads them (SO_RCVBUF, and SO_SNDBUF).
       * Linux's usual default (208 KiB) holds about 250 requests: a burst of more (a NAS farm after an
       * outage, a login storm) was lost before radotp could answer or shed it. 1 MiB holds about 1,300,
       * about maxPending: more would only queue requests that are shed once read. Under the bench's PAP
       * flood, Status-Server probes now wait behind the flood instead of being lost with it (p99 85 ms with
       * 6-10 of ~255 probes lost before; ~300 ms with none lost, at 1 MiB and at 4 MiB alike).
       * The kernel caps it at net.core.rmem_max; serve warns when it did.
       */
      socketBuffer: z.number().int().min(65_536).max(268_435_456).default(1_048_576),
      /**
       * How often the client table is reloaded from the database (clients added by the CLI appear by then).
       * Each reload is a query on every node: at least 100 ms (0 meant a reload every millisecond; the tests
       * use 0.2 s). At most an hour, so an added client appears within the hour; well within setInterval's
       * 2^31-1 ms (beyond it Node fires every millisecond).
       */
      clientRefresh: duration(10, { min: 0.1, max: HOUR }),
    })
    .prefault({}),
  ),
  database: section(
  z
    .strictObject({
      url: z.url({ protocol: /^postgres(ql)?$/, error: 'expected a postgres:// URL' }).optional(),
      poolSize: z.number().int().min(1).max(200).default(10),
      /**
       * How long `serve` waits for any one statement before abandoning it and closing its connection (see
       * ConnectOptions.queryTimeoutMs), and for the change listener's heartbeat. At least a second, as a
       * busy database answers slowly rather than not at all; at most 10 minutes, under the ~15 minutes the
       * kernel would take on its own.
       */
      queryTimeout: duration(10, { min: 1, max: 10 * MINUTE }),
    })
    .prefault({}),
  ),
  dataDir: text().default('./data'),
  keyFile: text().optional(),
  /** Old key files still accepted for decryption while `radotp keys rotate` rolls out to every node. */
  previousKeyFiles: z.array(text()).default([]),
  http: section(
  z
    .strictObject({
      listen: listenAddress(DEFAULT_HTTP_PORT).nullable().default(`127.0.0.1:${DEFAULT_HTTP_PORT}`),
    })
    .prefault({}),
  ),
  log: section(
  z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .prefault({}),
  ),
  node: section(z.strictObject({ name: text().max(64).optional() }).prefault({})),
  auth: section(
  z
    .strictObject({
      /** Method given to users created without --method. */
      defaultMethod: z.enum(AUTH_METHODS).default('password'),
      /** Shown on every Access-Reject; deliberately the same whatever went wrong. */
      rejectMessage: text().max(253).default('Authentication failed'),
      challengeMessage: text().max(200).default('Enter the code from your authenticator'),
      /**
       * Shown on the Access-Reject of a token locked after auth.lockout.maxFailures wrong codes, which comes
       * only after the first factor passed; a locked password gets rejectMessage like any other refusal.
       */
      lockedMessage: text().max(253).default('Too many wrong codes: your token is locked for a while. Try again later, or ask your helpdesk to unlock it'),
      /**
       * Shown on the Access-Reject of an answer whose challenge is gone (auth.challengeTtl ran out, or it was answered
       * already): the user must start the login again, not type another code.
       */
      challengeExpiredMessage: text().max(253).default('This login has expired: please log in again'),
      /** During a roll-out: a `token` user with no active token is accepted on the password alone. */
      allowUsersWithoutToken: z.boolean().default(false),
      /**
       * How long a challenge may be answered. At least a second (0 would expire every challenge as it is
       * issued; the tests use 2 s to see one expire); at most an hour, as a NAS waiting for the answer gives up
       * long before. Also keeps now() + ttl far inside PostgreSQL's interval range (1e308 overflowed it).
       */
      challengeTtl: duration(120, { min: 1, max: HOUR }),
      /**
       * Password checks (argon2id, ~20 ms of a thread each) allowed to wait for a thread; more are dropped
       * unanswered (the NAS retries or fails over) instead of being answered after the NAS gave up.
       */
      maxQueuedPasswordChecks: z.number().int().min(0).max(100_000).default(64),
      /** How long an enrolled software token may wait for activation: a minute (time to scan a QR code) to 90 days. */
      pendingTokenTtl: duration(7 * DAY, { min: MINUTE, max: 90 * DAY }),
      // Key URI format: the label is "issuer:account", so a colon in the issuer would split it wrongly.
      issuer: text().max(64).refine((v) => !v.includes(':'), 'must not contain ":" (it separates issuer and account in an otpauth label)').default('radotp'),
      totp: section(z.strictObject({ window: z.number().int().min(0).max(10).default(1) }).prefault({})),
      hotp: section(z.strictObject({ lookAhead: z.number().int().min(0).max(1000).default(10) }).prefault({})),
      lockout: section(
        z
          .strictObject({
            maxFailures: z.number().int().min(1).max(1000).default(10),
            /** How long a token, or a user's password, stays locked: at least a second (0 is no lockout), at most 30 days (a longer lock is a disable). */
            duration: duration(15 * MINUTE, { min: 1, max: 30 * DAY }),
          })
          .prefault({}),
      ),
      /**
       * What each serving node keeps in memory of the users (see AuthCache), sized by operators for their user
       * count: about 2 KB a user. maxUsers beyond the user count costs nothing; below it, the users beyond are
       * read from the database at each login. maxUnknownNames (names found not to exist, kept apart so a spray
       * of made-up names cannot push real users out) was an eighth of the users'. At most 10 million each
       * (some 20 GB): a bigger number is a typo.
       */
      loginCache: section(
        z
          .strictObject({
            maxUsers: z.number().int().min(1).max(10_000_000).default(200_000),
            maxUnknownNames: z.number().int().min(1).max(10_000_000).default(25_000),
          })
          .prefault({}),
      ),
    })
    .prefault({}),
  ),
  audit: section(
    z
      .strictObject({
        /** Events older than this are deleted, hourly, by one node at a time; null keeps them all. */
        retention,
        /**
         * Audit events a serving node keeps in memory while the database is away (see AuditWriter); beyond it
         * the oldest are dropped and counted. A few hundred bytes each. At least two batches (1,000), at most 10
         * million (a few GB): operators size it for their login rate times the outage to ride out.
         */
        maxBacklog: z.number().int().min(1000).max(10_000_000).default(100_000),
      })
      .prefault({}),
  ),
});

export type RadotpConfig = z.output<typeof configSchema>;
