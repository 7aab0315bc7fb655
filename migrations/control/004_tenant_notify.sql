-- A tenant row changed or removed (deleted, and later suspended): every node's grant cache forgets that tenant
-- (src/auth/grant-cache.ts; issue #14 §2).
CREATE FUNCTION tenant_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('hearth_auth', OLD.schema_name);
  RETURN NULL;
END
$$;
CREATE TRIGGER tenant_notify AFTER UPDATE OR DELETE ON tenant FOR EACH ROW EXECUTE FUNCTION tenant_notify();
