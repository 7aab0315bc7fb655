-- User administration (issue #16 §2): a disabled account cannot sign in, and a password reset is a one-time code
-- (stored as its SHA-256, valid until reset_expires_at) that the user redeems at /auth/<tenant>/password-reset.
ALTER TABLE auth_user
  ADD COLUMN disabled_at      timestamptz,
  ADD COLUMN reset_hash       text,
  ADD COLUMN reset_expires_at timestamptz,
  ADD COLUMN updated_at       timestamptz NOT NULL DEFAULT now();
CREATE UNIQUE INDEX auth_user_reset ON auth_user (reset_hash) WHERE reset_hash IS NOT NULL;
CREATE INDEX auth_grant_user ON auth_grant (user_id) WHERE user_id IS NOT NULL;
