-- Tenant schema: current resources and every version (ARCHITECTURE §3). Applied with search_path = t_<slug>.

-- One row per logical resource, holding its latest version (content is NULL once deleted).
CREATE TABLE resource (
  rid          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  type         text NOT NULL,
  id           text NOT NULL,
  version      integer NOT NULL CHECK (version > 0),
  last_updated timestamptz NOT NULL,
  deleted      boolean NOT NULL DEFAULT false,
  content      jsonb,
  UNIQUE (type, id)
);
CREATE INDEX resource_type_updated ON resource (type, last_updated, rid);

-- Every version, append-only; method records the interaction that made it (for history bundles).
CREATE TABLE resource_version (
  seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  rid          bigint NOT NULL REFERENCES resource (rid),
  type         text NOT NULL,
  id           text NOT NULL,
  version      integer NOT NULL,
  last_updated timestamptz NOT NULL,
  method       text NOT NULL CHECK (method IN ('POST', 'PUT', 'PATCH', 'DELETE')),
  content      jsonb,
  UNIQUE (type, id, version)
);
CREATE INDEX resource_version_updated ON resource_version (last_updated, seq);
CREATE INDEX resource_version_type_updated ON resource_version (type, last_updated, seq);
