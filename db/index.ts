import type { Migration } from 'kysely';
import * as m0001 from './migrations/0001_core';
import * as m0002 from './migrations/0002_change_notify';
import * as m0003 from './migrations/0003_token_fillfactor';
import * as m0004 from './migrations/0004_audit_brin';
import * as m0005 from './migrations/0005_token_trigger_columns';
import * as m0006 from './migrations/0006_token_pending_expiry_index';
import * as m0007 from './migrations/0007_password_lockout';

/** Every migration, in order. Names never change once released. */
export const migrations: Record<string, Migration> = {
  '0001_core': m0001,
  '0002_change_notify': m0002,
  '0003_token_fillfactor': m0003,
  '0004_audit_brin': m0004,
  '0005_token_trigger_columns': m0005,
  '0006_token_pending_expiry_index': m0006,
  '0007_password_lockout': m0007,
};
