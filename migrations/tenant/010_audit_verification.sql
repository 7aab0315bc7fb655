-- How far AuditEvent/$verify-chain last re-computed the chain's events (issue #12 §10): the next run re-computes only
-- the events of later seals (full=true ignores it). mac is an HMAC under HEARTH_AUDIT_SEAL_SECRET, so that a row
-- moved forward behind the server's back is ignored rather than trusted.
CREATE TABLE audit_verification (
  singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  through_seal bigint NOT NULL,
  seal_hash    text NOT NULL,
  mac          text,
  verified_at  timestamptz NOT NULL DEFAULT now()
);
