-- Profiles a tenant requires of every resource of a type (issue #15 §4): {"Patient": ["http://…/StructureDefinition/x"]}.
-- Writes read it once a transaction (src/storage/canonical.ts), so a change applies to the next write on every node.
ALTER TABLE auth_setting ADD COLUMN required_profiles jsonb NOT NULL DEFAULT '{}';
