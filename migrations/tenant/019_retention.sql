-- Data retention rules (issue #17 §4, README "Retention"): what the daily retention run removes for good, per tenant.
-- kind:
--   deleted-history     resources (of resource_type, or of every type) deleted more than `days` ago: every version
--                       and the row go, as $expunge does
--   resource-age        resources of resource_type (required) not changed for `days`: every version and the row go
--   patient-inactivity  patients whose latest Encounter (or, without one, their own last change) is older than
--                       `days`: their compartment is erased as Patient/$erase does (shared resources kept)
CREATE TABLE retention_rule (
  name          text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  kind          text NOT NULL CHECK (kind IN ('deleted-history', 'resource-age', 'patient-inactivity')),
  resource_type text CHECK (resource_type ~ '^[A-Z][A-Za-z]{1,63}$'),
  days          integer NOT NULL CHECK (days BETWEEN 1 AND 36500),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  CHECK (kind <> 'resource-age' OR resource_type IS NOT NULL),
  CHECK (kind <> 'patient-inactivity' OR resource_type IS NULL)
);
