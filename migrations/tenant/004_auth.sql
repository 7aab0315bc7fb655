-- SMART authorization server state of one tenant (ARCHITECTURE §7). Secrets, codes and tokens are stored only as
-- SHA-256 hashes (passwords as scrypt hashes); a database dump does not yield a usable credential.

-- Registered apps: public, confidential (client_secret_basic, or private_key_jwt with a JWKS) and backend services.
CREATE TABLE auth_client (
  client_id     text PRIMARY KEY,
  name          text NOT NULL,
  type          text NOT NULL CHECK (type IN ('public', 'confidential', 'backend')),
  secret_hash   text,
  redirect_uris text[] NOT NULL DEFAULT '{}',
  scope         text NOT NULL DEFAULT '',
  jwks          jsonb,
  jwks_uri      text,
  launch_uri    text,
  created_at    timestamptz NOT NULL DEFAULT now()
);

-- People who log in at the authorization endpoint; fhir_user is 'Patient/…' or 'Practitioner/…' etc.
CREATE TABLE auth_user (
  id            uuid PRIMARY KEY,
  username      text NOT NULL UNIQUE,
  password_hash text NOT NULL,
  fhir_user     text NOT NULL,
  totp_secret   text,
  failed_logins integer NOT NULL DEFAULT 0,
  locked_until  timestamptz,
  created_at    timestamptz NOT NULL DEFAULT now()
);

-- Browser sessions at the authorization server (cookie holds the token; the row its hash).
CREATE TABLE auth_session (
  token_hash  text PRIMARY KEY,
  user_id     uuid NOT NULL REFERENCES auth_user (id) ON DELETE CASCADE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  ended_at    timestamptz
);

-- EHR launch contexts: single use, short-lived.
CREATE TABLE auth_launch (
  id_hash     text PRIMARY KEY,
  context     jsonb NOT NULL,
  expires_at  timestamptz NOT NULL,
  used_at     timestamptz
);

-- Authorization requests between /authorize and the redirect (login, picker, consent steps).
CREATE TABLE auth_request (
  id          text PRIMARY KEY,
  client_id   text NOT NULL,
  params      jsonb NOT NULL,
  context     jsonb NOT NULL DEFAULT '{}',
  session_hash text,
  expires_at  timestamptz NOT NULL,
  done_at     timestamptz
);

-- One authorization: what a client may do for a user (or for itself), with its launch context.
CREATE TABLE auth_grant (
  id          uuid PRIMARY KEY,
  client_id   text NOT NULL,
  user_id     uuid,
  session_hash text,
  scope       text NOT NULL,
  context     jsonb NOT NULL DEFAULT '{}',
  refresh_hash text UNIQUE,
  refresh_expires_at timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);
CREATE INDEX auth_grant_session ON auth_grant (session_hash) WHERE session_hash IS NOT NULL;

-- Refresh tokens replaced by rotation: presenting one again revokes the grant (reuse detection).
CREATE TABLE auth_refresh_rotated (
  token_hash  text PRIMARY KEY,
  grant_id    uuid NOT NULL,
  rotated_at  timestamptz NOT NULL DEFAULT now()
);

-- Authorization codes: single use, ≤ 60 s, bound to client, redirect_uri and PKCE challenge.
CREATE TABLE auth_code (
  code_hash      text PRIMARY KEY,
  grant_id       uuid NOT NULL,
  client_id      text NOT NULL,
  redirect_uri   text NOT NULL,
  code_challenge text NOT NULL,
  nonce          text,
  expires_at     timestamptz NOT NULL,
  used_at        timestamptz
);

-- client_assertion jti values seen, kept until the assertion expires (replay protection).
CREATE TABLE auth_assertion_jti (
  iss        text NOT NULL,
  jti        text NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (iss, jti)
);
