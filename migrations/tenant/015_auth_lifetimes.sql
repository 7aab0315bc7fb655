-- Token and session lifetimes of the tenant (issue #16 §5): one row, changed through the admin API or
-- `hearth tenant lifetimes`. session_idle_minutes 0: a session ends only at its maximum age.
CREATE TABLE auth_setting (
  one                    boolean PRIMARY KEY DEFAULT true CHECK (one),
  access_token_seconds   integer NOT NULL DEFAULT 3600 CHECK (access_token_seconds BETWEEN 60 AND 86400),
  refresh_token_days     integer NOT NULL DEFAULT 90 CHECK (refresh_token_days BETWEEN 1 AND 3650),
  session_hours          integer NOT NULL DEFAULT 8 CHECK (session_hours BETWEEN 1 AND 720),
  session_idle_minutes   integer NOT NULL DEFAULT 0 CHECK (session_idle_minutes BETWEEN 0 AND 43200)
);
INSERT INTO auth_setting DEFAULT VALUES;
ALTER TABLE auth_session ADD COLUMN last_seen_at timestamptz;
