-- Routing by host name (issue #17 §5, README "Tenants"): a tenant may be served at its own host name, e.g.
-- acme.example.org, whose /fhir is that tenant's FHIR base (and /auth its authorization server); the path form
-- /fhir/<slug> keeps working everywhere. Lower-case DNS names, with an optional port; one tenant per host.
ALTER TABLE tenant ADD COLUMN host text UNIQUE
  CHECK (host ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(:[0-9]{1,5})?$' AND length(host) <= 253);

-- Tenant deletions, kept in the control schema (the tenant's own audit trail goes with its schema): who deleted which
-- tenant, when, from where; append-only.
CREATE TABLE tenant_deletion (
  seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  slug        text NOT NULL,
  schema_name text NOT NULL,
  deleted_at  timestamptz NOT NULL DEFAULT now(),
  operator    text NOT NULL,
  address     text,
  request_id  text
);
CREATE FUNCTION tenant_deletion_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'tenant deletions are append-only (% on %)', TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER tenant_deletion_append_only BEFORE UPDATE OR DELETE ON tenant_deletion
  FOR EACH ROW EXECUTE FUNCTION tenant_deletion_append_only();
