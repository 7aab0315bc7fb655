-- AuditEvent store (issue #6, ARCHITECTURE §9): append-only, partitioned by month of `recorded`, with the BALP
-- search fields as columns so that auditors' searches never touch JSONB, and a hash chain of seals over it.

-- Refuses UPDATE, DELETE and TRUNCATE on the audit tables: only INSERT (and dropping an expired partition, DDL that
-- the retention job runs after exporting it) ever removes or changes audit data.
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit records are append-only (% on %)', TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;

-- Token columns hold, per Coding, 'code', 'system|code' and 'system|' so that every token search form is one
-- array containment (GIN); reference columns hold 'Type/id' without version.
CREATE TABLE audit_event (
  seq             bigint GENERATED ALWAYS AS IDENTITY,
  id              uuid NOT NULL,
  recorded        timestamptz NOT NULL,
  -- the writing transaction (its 64-bit id): seals cover whole transaction ranges, so an event that commits late is
  -- never skipped; it grows with insertion order, so a BRIN index serves the sealing scans at almost no write cost
  xid             bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
  type            text[] NOT NULL,
  subtype         text[] NOT NULL DEFAULT '{}',
  action          text,
  outcome         text,
  agent           text[] NOT NULL DEFAULT '{}',
  agent_identifier text[] NOT NULL DEFAULT '{}',
  altid           text[] NOT NULL DEFAULT '{}',
  policy          text[] NOT NULL DEFAULT '{}',
  address         text[] NOT NULL DEFAULT '{}',
  entity          text[] NOT NULL DEFAULT '{}',
  entity_type     text[] NOT NULL DEFAULT '{}',
  entity_role     text[] NOT NULL DEFAULT '{}',
  patient         text[] NOT NULL DEFAULT '{}',
  source          text,
  site            text,
  client_reported boolean NOT NULL DEFAULT false,
  content         jsonb NOT NULL,
  PRIMARY KEY (recorded, seq)
) PARTITION BY RANGE (recorded);

-- Catch-all for instants outside the monthly partitions the server creates ahead of time.
CREATE TABLE audit_event_default PARTITION OF audit_event DEFAULT;

-- No index on id: ids are UUIDv7 whose timestamp is `recorded`, so a read by id is a primary-key lookup in one partition.
CREATE INDEX audit_event_xid ON audit_event USING brin (xid);
CREATE INDEX audit_event_patient ON audit_event USING gin (patient);
CREATE INDEX audit_event_agent ON audit_event USING gin (agent);
CREATE INDEX audit_event_entity ON audit_event USING gin (entity);

CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- One seal per run of the sealing job: the events of the transactions in [xid_from, xid_to) in (xid, seq) order.
-- digests holds each event's SHA-256 in that order so verification can name the first event that changed; hash
-- covers prev_hash and every digest; mac is an HMAC of hash under a secret kept outside the database.
CREATE TABLE audit_seal (
  seal_no        bigint PRIMARY KEY,
  xid_from       bigint NOT NULL,
  xid_to         bigint NOT NULL,
  events         integer NOT NULL,
  seqs           bigint[] NOT NULL,
  digests        bytea NOT NULL,
  first_recorded timestamptz,
  last_recorded  timestamptz,
  prev_hash      text NOT NULL,
  hash           text NOT NULL,
  mac            text,
  sealed_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER audit_seal_append_only BEFORE UPDATE OR DELETE ON audit_seal
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_seal_no_truncate BEFORE TRUNCATE ON audit_seal
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- Per-tenant audit settings (one row) and the partitions retention has exported and dropped.
CREATE TABLE audit_setting (
  singleton        boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  retention_months integer NOT NULL DEFAULT 72 CHECK (retention_months > 0)
);
INSERT INTO audit_setting DEFAULT VALUES;

CREATE TABLE audit_archive (
  partition   text PRIMARY KEY,
  range_from  timestamptz NOT NULL,
  range_to    timestamptz NOT NULL,
  events      bigint NOT NULL,
  -- the last seal whose events all lie in archived partitions: verification starts after it
  through_seal bigint,
  location    text NOT NULL,
  archived_at timestamptz NOT NULL DEFAULT now()
);

REVOKE UPDATE, DELETE, TRUNCATE ON audit_event, audit_seal FROM PUBLIC;
