-- Control schema: the tenants this server hosts (ARCHITECTURE §3). Applied with search_path = hearth.
CREATE TABLE tenant (
  slug        text PRIMARY KEY CHECK (slug ~ '^[a-z][a-z0-9-]{0,39}$'),
  schema_name text NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now()
);
