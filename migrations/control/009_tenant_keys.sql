-- Encryption at rest (issue #17 §1, README "Encryption at rest"): each tenant's data keys (AES-256), wrapped by the
-- key-encryption key that configuration names (HEARTH_KEY_SECRET or a key file kept apart from the database). The
-- highest version encrypts new rows; older versions stay until every row is re-encrypted. Deleting a tenant deletes
-- its rows here first (crypto-shredding: backups of its rows become unreadable).
CREATE TABLE tenant_key (
  schema_name text NOT NULL,
  version     integer NOT NULL CHECK (version > 0),
  wrapped     bytea NOT NULL,
  provider    text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (schema_name, version)
);

-- A value wrapped by the key-encryption key when it was first used: a start with another key-encryption key fails to
-- unwrap it and stops before writing anything.
CREATE TABLE key_check (
  singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  provider   text NOT NULL,
  wrapped    bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
