-- Offboarding (issue #17 §5, README "Tenants"): a suspended tenant whose full export is kept until delete_after, when
-- the server deletes the tenant (recorded in tenant_deletion). Reactivating the tenant clears it.
ALTER TABLE tenant ADD COLUMN delete_after timestamptz;
