-- Break-the-glass (issue #16 §4): a user whose role allows it opens emergency access to one patient, stating a
-- reason, for the tenant's break_glass_minutes; auditors review each session afterwards. A session widens only the
-- relationship rule of the user's break-the-glass roles, only for its patient, only until it expires.
CREATE TABLE auth_break_glass (
  id           uuid PRIMARY KEY,
  user_id      uuid NOT NULL REFERENCES auth_user (id) ON DELETE CASCADE,
  patient      text NOT NULL,
  reason       text NOT NULL,
  started_at   timestamptz NOT NULL,
  expires_at   timestamptz NOT NULL,
  reviewed_at  timestamptz,
  review_note  text
);
CREATE INDEX auth_break_glass_user ON auth_break_glass (user_id, expires_at);
CREATE INDEX auth_break_glass_unreviewed ON auth_break_glass (started_at) WHERE reviewed_at IS NULL;
CREATE TRIGGER auth_break_glass_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON auth_break_glass
  FOR EACH STATEMENT EXECUTE FUNCTION auth_grant_notify();
ALTER TABLE auth_setting ADD COLUMN break_glass_minutes integer NOT NULL DEFAULT 60 CHECK (break_glass_minutes BETWEEN 5 AND 1440);
-- Doctors and nurses may break the glass by default.
UPDATE auth_role SET break_glass = true WHERE name IN ('doctor', 'nurse');
