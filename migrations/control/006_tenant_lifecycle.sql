-- The tenant lifecycle (issue #17 §5): a display name and contact for operators, and suspension — a suspended
-- tenant answers its FHIR and SMART endpoints with 403 and pauses its jobs, while the admin API still works. The
-- tenant_notify trigger (004) has every node's grant cache forget the tenant when it changes.
ALTER TABLE tenant
  ADD COLUMN display_name     text,
  ADD COLUMN contact          text,
  ADD COLUMN suspended_at     timestamptz,
  ADD COLUMN suspended_reason text;
