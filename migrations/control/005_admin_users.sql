-- Global administrators (issue #16 §2): people who sign in to the admin API with their own name, password and
-- optional TOTP, and administer every tenant under their own audited identity. The same login rules as a tenant's
-- users (lockout after five failures, disable) — the columns auth/users.ts checks a login against.
CREATE TABLE admin_user (
  id            uuid PRIMARY KEY,
  username      text NOT NULL UNIQUE,
  password_hash text NOT NULL,
  -- A global administrator acts on no FHIR record: always NULL (the login check reads the column for tenant users).
  fhir_user     text,
  totp_secret   text,
  failed_logins integer NOT NULL DEFAULT 0,
  locked_until  timestamptz,
  disabled_at   timestamptz,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Admin API sessions: the bearer token's hash, whose it is (a global administrator, or a tenant's user holding the
-- tenant's admin role, then confined to that tenant), and when it ends (absolute, and after an idle period).
CREATE TABLE admin_session (
  token_hash   text PRIMARY KEY,
  admin_id     uuid REFERENCES admin_user (id) ON DELETE CASCADE,
  tenant_slug  text,
  tenant_user  uuid,
  username     text NOT NULL,
  created_at   timestamptz NOT NULL,
  last_used_at timestamptz NOT NULL,
  expires_at   timestamptz NOT NULL,
  ended_at     timestamptz,
  CHECK ((admin_id IS NULL) = (tenant_slug IS NOT NULL AND tenant_user IS NOT NULL))
);
CREATE INDEX admin_session_admin ON admin_session (admin_id) WHERE admin_id IS NOT NULL;
