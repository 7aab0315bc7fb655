-- Encryption at rest of AuditEvent bodies (issue #17 §1): the event's JSON text as AES-256-GCM ciphertext under the
-- tenant's data key (src/db/vault.ts), content then NULL. The row digest of the hash chain is over the JSON text, so
-- verification opens the body first. The search columns stay in clear (README "Encryption at rest").
ALTER TABLE audit_event ADD COLUMN sealed bytea;
ALTER TABLE audit_event ALTER COLUMN content DROP NOT NULL;

-- Ciphertext does not compress: no compression attempt (see 022). SET STORAGE recurses to the partitions; new ones
-- take it from audit_event.
ALTER TABLE audit_event ALTER COLUMN sealed SET STORAGE EXTERNAL;
