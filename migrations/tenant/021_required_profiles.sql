-- Profiles a tenant requires of every resource of a type (issue #15 §4): {"Patient": ["http://…/StructureDefinition/x"]}.
-- Nodes keep it in memory for 5 s (src/storage/canonical.ts).
ALTER TABLE auth_setting ADD COLUMN required_profiles jsonb NOT NULL DEFAULT '{}';
