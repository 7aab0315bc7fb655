-- Append-only by privilege as well as by trigger (issue #6 §4): the role that owns the tenant schema — the one the
-- server connects as — keeps SELECT and INSERT on the audit tables and loses UPDATE, DELETE and TRUNCATE. A statement
-- that would change audit rows is refused twice: by the privilege check, and by the trigger should the privileges be
-- granted back. New partitions get the same (src/audit/store.ts). Superusers bypass privilege checks; an owner can
-- grant itself the privileges back and disable the triggers: only seals (and their HMAC) show what such a role did.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_event, audit_seal FROM PUBLIC, CURRENT_USER;
DO $$
DECLARE
  part regclass;
BEGIN
  FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'audit_event'::regclass LOOP
    EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON %s FROM PUBLIC, CURRENT_USER', part);
  END LOOP;
END
$$;
