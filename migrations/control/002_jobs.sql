-- Long work (reindex, bulk export, import, erasure) as rows picked with SKIP LOCKED (ARCHITECTURE §8).
CREATE TABLE job (
  id           uuid PRIMARY KEY,
  tenant       text NOT NULL REFERENCES tenant (slug) ON DELETE CASCADE,
  kind         text NOT NULL,
  status       text NOT NULL DEFAULT 'queued'
               CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
  params       jsonb NOT NULL DEFAULT '{}',
  -- done/total counters and the resume cursor, updated as the job advances
  progress     jsonb NOT NULL DEFAULT '{}',
  result       jsonb,
  error        text,
  cancel_requested boolean NOT NULL DEFAULT false,
  attempts     integer NOT NULL DEFAULT 0,
  lease_owner  text,
  lease_until  timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  started_at   timestamptz,
  finished_at  timestamptz
);
CREATE INDEX job_pick ON job (status, created_at);
CREATE INDEX job_tenant ON job (tenant, created_at);
