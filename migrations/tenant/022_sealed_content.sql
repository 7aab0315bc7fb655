-- Encryption at rest (issue #17 §1): a resource version's body as AES-256-GCM ciphertext under the tenant's data
-- key (src/db/vault.ts), in place of content, which is then NULL. Rows written before the tenant had a key keep
-- content in clear until converted.
ALTER TABLE resource ADD COLUMN sealed bytea;
ALTER TABLE resource_version ADD COLUMN sealed bytea;

-- The words of an encrypted current version, for _content (every string of the resource) and _text (its narrative):
-- the one part of an encrypted body kept in clear, since full-text search needs it (README "Encryption at rest").
-- NULL for a row in clear, whose search reads content itself.
ALTER TABLE resource ADD COLUMN words tsvector;
ALTER TABLE resource ADD COLUMN narrative tsvector;

-- Ciphertext does not compress: stored without TOAST's compression attempt (pglz would try, and fail, on every
-- body over 2 kB), out of line when large.
ALTER TABLE resource ALTER COLUMN sealed SET STORAGE EXTERNAL;
ALTER TABLE resource_version ALTER COLUMN sealed SET STORAGE EXTERNAL;
