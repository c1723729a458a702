import type { ReplyMessageAuthenticator } from '../radius/types';
import type { ColumnType, Generated } from 'kysely';

/** Row shapes of the tables created in db/migrations. bigint columns are read as JS bigint (see connect.ts). */
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;

export interface RadiusClientTable {
  id: Generated<bigint>;
  name: string;
  address: string;
  secret_sealed: Buffer;
  require_message_authenticator: boolean;
  /** `auto` (migration 0015): required from an address once it sent one; require_message_authenticator is then false. */
  learn_message_authenticator: ColumnType<boolean, boolean | undefined, boolean>;
  reply_message_authenticator: ColumnType<ReplyMessageAuthenticator, ReplyMessageAuthenticator | undefined, ReplyMessageAuthenticator>;
  login_style: LoginStyle;
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

export type LoginStyle = 'challenge' | 'append' | 'otp-only';

export interface AppUserTable {
  id: Generated<bigint>;
  username: string;
  password_hash: string | null;
  method: string;
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

/** Wrong passwords of one user (see migration 0007); no row: none. */
export interface PasswordLockoutTable {
  user_id: bigint;
  fail_count: number;
  locked_until: Date | null;
  last_fail_at: Date;
}

export type TokenState = 'pending' | 'active' | 'unassigned' | 'disabled';
export type TokenKind = 'totp' | 'hotp' | 'ocra';
export type DisabledReason = 'lost' | 'stolen' | 'broken' | 'retired' | 'other';

export interface TokenTable {
  id: Generated<bigint>;
  serial: string;
  user_id: bigint | null;
  origin: 'software' | 'hardware';
  kind: TokenKind;
  state: TokenState;
  algorithm: 'sha1' | 'sha256' | 'sha512';
  digits: number;
  period: number;
  t0: ColumnType<bigint, bigint | number | undefined, bigint | number>;
  ocra_suite: string | null;
  /**
   * The sealed seed as every release writes it; migration 0018's triggers copy it into token_seed, which this release
   * reads. Kept for the releases before 0018 (their legacy copy, brought to a new key by copyLegacySeeds).
   */
  seed_sealed: Buffer;
  /** KeyRing.fingerprint of the seed (migration 0012); null: unknown (an older node, or a row from before). */
  seed_fingerprint: ColumnType<Buffer | null, Buffer | null | undefined, Buffer | null>;
  last_step: ColumnType<bigint, bigint | number | undefined, bigint | number>;
  next_counter: ColumnType<bigint, bigint | number | undefined, bigint | number>;
  drift: Generated<number>;
  fail_count: Generated<number>;
  locked_until: Date | null;
  last_fail_digest: Buffer | null;
  last_fail_at: Date | null;
  description: string | null;
  issuer: string | null;
  manufacturer: string | null;
  model: string | null;
  valid_from: Date | null;
  valid_to: Date | null;
  disabled_reason: DisabledReason | null;
  disabled_note: string | null;
  pending_expires_at: Date | null;
  last_used_at: Date | null;
  /** Fingerprint of the request that spent the current step/counter (migration 0011); NULL: none known. */
  last_spent_by: Buffer | null;
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

/**
 * A token's sealed seed, in a row of its own (migration 0018): `keys rotate` re-seals these while logins spend codes
 * by updating the token rows, and neither waits for the other's row locks. Written by 0018's triggers from the token
 * row's columns (every writer writes those), and by rekeyAll.
 */
export interface TokenSeedTable {
  token_id: bigint;
  seed_sealed: Buffer;
  /** KeyRing.fingerprint of the seed (migration 0012); null: unknown (an older node, or a row from before). */
  seed_fingerprint: ColumnType<Buffer | null, Buffer | null | undefined, Buffer | null>;
}

export interface ChallengeTable {
  state: Buffer;
  user_id: bigint;
  kind: string;
  data: ColumnType<Record<string, unknown>, string | undefined, string>;
  node: string;
  expires_at: Date;
  created_at: Generated<Date>;
}

export interface AuditEventTable {
  id: Generated<bigint>;
  at: Generated<Date>;
  node: string;
  client: string | null;
  client_address: string | null;
  username: string | null;
  result: string;
  reason: string;
  method: string | null;
  token_serial: string | null;
  detail: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
}

/** A deleted token's replay state, kept by serial for a token inserted under it again (migration 0009). */
export interface TokenRetiredTable {
  serial: string;
  last_step: bigint;
  next_counter: bigint;
  /** Whether every deleted token of the serial had a seed fingerprint (migration 0012). */
  seeds_known: Generated<boolean>;
  retired_at: Generated<Date>;
}

/** The same, by serial and seed fingerprint: a seed back under its serial resumes its own state (migration 0012). */
export interface TokenRetiredSeedTable {
  serial: string;
  seed_fingerprint: Buffer;
  last_step: bigint;
  next_counter: bigint;
  retired_at: Generated<Date>;
}

/** Ids of the audit batches written, so a batch sent again is inserted once (migration 0010). */
export interface AuditBatchTable {
  id: string;
  written_at: Generated<Date>;
}

export interface Database {
  radius_client: RadiusClientTable;
  app_user: AppUserTable;
  password_lockout: PasswordLockoutTable;
  token: TokenTable;
  token_seed: TokenSeedTable;
  token_retired: TokenRetiredTable;
  token_retired_seed: TokenRetiredSeedTable;
  challenge: ChallengeTable;
  audit_event: AuditEventTable;
  audit_batch: AuditBatchTable;
}

/**
 * The largest next counter a token row can hold: `next_counter` is a bigint ("-9223372036854775808 to
 * +9223372036854775807", PostgreSQL Numeric Types). A code at this counter or beyond leaves no next counter
 * to store, so it cannot be accepted: the token is used up (RFC 4226 §7.2 forbids accepting it twice).
 */
export const MAX_NEXT_COUNTER = 2n ** 63n - 1n;
