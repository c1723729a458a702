/*
 * Migrations must be additive. Nodes of one cluster share the database and are upgraded one at a time, so
 * the first upgraded node (or an admin's `radotp db migrate`) migrates the schema while older nodes keep
 * serving from it, and an older node may restart on it (src/store/migrate.ts lets it, with a warning).
 * An older radotp must therefore work on every newer schema:
 *   - add tables, columns and indexes; a new column is nullable or has a default, so older nodes' INSERTs,
 *     which do not name it, still succeed;
 *   - never drop, rename or narrow (type, NOT NULL, CHECK, UNIQUE) anything an older release reads or writes
 *     in the same release that stops using it: stop using it in one release, drop it in a later one;
 *   - a trigger or function an older release relies on may be replaced only by one that does what it did
 *     (as 0005 does), never removed.
 * Names never change once released, and a new migration's name sorts after every earlier one.
 * Moving data an older release reads (0018_token_seed: the sealed seed to a table of its own) keeps the old column
 * as a copy that every writer, older releases included, keeps writing, and a trigger copies it to the new place.
 */
import type { Migration } from 'kysely';
import * as m0001 from './migrations/0001_core';
import * as m0002 from './migrations/0002_change_notify';
import * as m0003 from './migrations/0003_token_fillfactor';
import * as m0004 from './migrations/0004_audit_brin';
import * as m0005 from './migrations/0005_token_trigger_columns';
import * as m0006 from './migrations/0006_token_pending_expiry_index';
import * as m0007 from './migrations/0007_password_lockout';
import * as m0008 from './migrations/0008_reply_message_authenticator';
import * as m0009 from './migrations/0009_retired_token_replay_state';
import * as m0010 from './migrations/0010_audit_batch';
import * as m0011 from './migrations/0011_token_last_spent_by';
import * as m0012 from './migrations/0012_token_seed_fingerprint';
import * as m0013 from './migrations/0013_audit_batch_written_at_index';
import * as m0014 from './migrations/0014_client_change_notify';
import * as m0015 from './migrations/0015_learn_message_authenticator';
import * as m0016 from './migrations/0016_token_serial_lower_index';
import * as m0017 from './migrations/0017_token_code_lengths_index';
import * as m0018 from './migrations/0018_token_seed';

/** Every migration, in order. Names never change once released. */
export const migrations: Record<string, Migration> = {
  '0001_core': m0001,
  '0002_change_notify': m0002,
  '0003_token_fillfactor': m0003,
  '0004_audit_brin': m0004,
  '0005_token_trigger_columns': m0005,
  '0006_token_pending_expiry_index': m0006,
  '0007_password_lockout': m0007,
  '0008_reply_message_authenticator': m0008,
  '0009_retired_token_replay_state': m0009,
  '0010_audit_batch': m0010,
  '0011_token_last_spent_by': m0011,
  '0012_token_seed_fingerprint': m0012,
  '0013_audit_batch_written_at_index': m0013,
  '0014_client_change_notify': m0014,
  '0015_learn_message_authenticator': m0015,
  '0016_token_serial_lower_index': m0016,
  '0017_token_code_lengths_index': m0017,
  '0018_token_seed': m0018,
};
