import { Kysely, sql } from 'kysely';

/**
 * Core schema: RADIUS clients, users, tokens, challenges and the audit trail.
 * Secrets are stored only sealed (AES-256-GCM, see src/secrets/keyring.ts): `*_sealed` columns.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE radius_client (
      id            bigserial PRIMARY KEY,
      name          text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
      address       cidr NOT NULL,
      secret_sealed bytea NOT NULL,
      require_message_authenticator boolean NOT NULL DEFAULT true,
      login_style   text NOT NULL DEFAULT 'challenge' CHECK (login_style IN ('challenge', 'append', 'otp-only')),
      created_at    timestamptz NOT NULL DEFAULT now(),
      updated_at    timestamptz NOT NULL DEFAULT now()
    );
    -- one client per network: a request's source must map to exactly one shared secret
    CREATE UNIQUE INDEX radius_client_address_idx ON radius_client (address);

    CREATE TABLE app_user (
      id            bigserial PRIMARY KEY,
      username      text NOT NULL UNIQUE CHECK (length(username) BETWEEN 1 AND 253),
      password_hash text,
      method        text NOT NULL DEFAULT 'password',
      created_at    timestamptz NOT NULL DEFAULT now(),
      updated_at    timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE token (
      id             bigserial PRIMARY KEY,
      serial         text NOT NULL UNIQUE CHECK (length(serial) BETWEEN 1 AND 128),
      user_id        bigint REFERENCES app_user(id) ON DELETE SET NULL,
      origin         text NOT NULL CHECK (origin IN ('software', 'hardware')),
      kind           text NOT NULL CHECK (kind IN ('totp', 'hotp', 'ocra')),
      state          text NOT NULL CHECK (state IN ('pending', 'active', 'unassigned', 'disabled')),
      algorithm      text NOT NULL DEFAULT 'sha1' CHECK (algorithm IN ('sha1', 'sha256', 'sha512')),
      digits         smallint NOT NULL DEFAULT 6,
      period         integer NOT NULL DEFAULT 30,
      t0             bigint NOT NULL DEFAULT 0,
      ocra_suite     text,
      seed_sealed    bytea NOT NULL,
      -- replay state: TOTP last accepted time step; HOTP/OCRA first counter not yet used
      last_step      bigint NOT NULL DEFAULT -1,
      next_counter   bigint NOT NULL DEFAULT 0,
      drift          integer NOT NULL DEFAULT 0,
      fail_count     integer NOT NULL DEFAULT 0,
      locked_until   timestamptz,
      last_fail_digest bytea,
      last_fail_at   timestamptz,
      description    text,
      issuer         text,
      manufacturer   text,
      model          text,
      valid_from     timestamptz,
      valid_to       timestamptz,
      disabled_reason text CHECK (disabled_reason IN ('lost', 'stolen', 'broken', 'retired', 'other')),
      disabled_note  text,
      pending_expires_at timestamptz,
      last_used_at   timestamptz,
      created_at     timestamptz NOT NULL DEFAULT now(),
      updated_at     timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX token_user_idx ON token (user_id);

    -- Access-Challenge state, shared by every node: any node can finish what another started.
    CREATE TABLE challenge (
      state       bytea PRIMARY KEY,
      user_id     bigint NOT NULL REFERENCES app_user(id) ON DELETE CASCADE,
      kind        text NOT NULL,
      data        jsonb NOT NULL DEFAULT '{}'::jsonb,
      node        text NOT NULL,
      expires_at  timestamptz NOT NULL,
      created_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX challenge_expires_idx ON challenge (expires_at);

    CREATE TABLE audit_event (
      id          bigserial PRIMARY KEY,
      at          timestamptz NOT NULL DEFAULT now(),
      node        text NOT NULL,
      client      text,
      client_address text,
      username    text,
      result      text NOT NULL,
      reason      text NOT NULL,
      method      text,
      token_serial text,
      detail      jsonb
    );
    CREATE INDEX audit_event_at_idx ON audit_event (at);
    CREATE INDEX audit_event_username_idx ON audit_event (username, at);
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE audit_event, challenge, token, app_user, radius_client`.execute(db);
}
