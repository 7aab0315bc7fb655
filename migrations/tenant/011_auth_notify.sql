-- Revocations reach every node's grant cache (src/auth/grant-cache.ts; issue #14 §2): when a statement that may
-- revoke or remove grants commits, NOTIFY hearth_auth with this tenant's schema. Statement-level: one notification
-- per statement (and PostgreSQL folds identical ones of a transaction into one).
CREATE FUNCTION auth_grant_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('hearth_auth', TG_TABLE_SCHEMA);
  RETURN NULL;
END
$$;
CREATE TRIGGER auth_grant_notify AFTER UPDATE OF revoked_at OR DELETE OR TRUNCATE ON auth_grant
  FOR EACH STATEMENT EXECUTE FUNCTION auth_grant_notify();
