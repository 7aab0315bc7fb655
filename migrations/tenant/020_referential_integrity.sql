-- Referential integrity (issue #15 §2). Every relative literal reference (`Type/id`, `Type/id/_history/n`) of a
-- live resource and of its contained resources has a row in resource_link, written with the search index rows
-- (src/storage/index-writer.ts, src/storage/links.ts): replaced on update, removed on delete and erasure.
-- Two constraint triggers, deferred to the commit so that a transaction's entries may name each other in any order:
--   * a new link must name a live resource of the tenant (locked FOR SHARE, so a concurrent delete of the target waits
--     for the referring write and then sees it), else SQLSTATE HR404 (answered 422 naming the element);
--   * a resource that becomes deleted must have no live referrer left at commit, else SQLSTATE HR409 (answered 409
--     naming up to ten referrers). `_cascade=delete` deletes the referrers in the same transaction first.
-- auth_setting.referential_integrity = false relaxes both for the tenant; jobs that rebuild or remove rows
-- (reindex, import, erasure, retention) set hearth.reference_checks = 'off' for their own transaction.
-- Functions keep the search_path of this migration (the tenant schema): a trigger fired while the session's
-- search_path points elsewhere still reads this tenant's tables.
ALTER TABLE auth_setting ADD COLUMN referential_integrity boolean NOT NULL DEFAULT true;

CREATE TABLE resource_link (
  rid         bigint NOT NULL,
  -- the FHIRPath of the reference element, e.g. Observation.performer[1] (names the element in errors)
  element     text NOT NULL,
  target_type text NOT NULL,
  target_id   text NOT NULL
);
CREATE INDEX resource_link_target ON resource_link (target_type, target_id, rid);
CREATE INDEX resource_link_rid ON resource_link (rid);

CREATE FUNCTION resource_link_check() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  source record;
BEGIN
  -- Inline rather than a function of its own: a function with a SET clause costs a GUC save and restore a call.
  IF current_setting('hearth.reference_checks', true) = 'off' OR NOT (SELECT referential_integrity FROM auth_setting) THEN
    RETURN NULL;
  END IF;
  -- The link may have been replaced later in the transaction (the source updated again, deleted or erased).
  PERFORM 1 FROM resource_link WHERE rid = NEW.rid AND element = NEW.element
    AND target_type = NEW.target_type AND target_id = NEW.target_id;
  IF NOT FOUND THEN RETURN NULL; END IF;
  PERFORM 1 FROM resource WHERE type = NEW.target_type AND id = NEW.target_id AND NOT deleted FOR SHARE;
  IF NOT FOUND THEN
    SELECT type, id INTO source FROM resource WHERE rid = NEW.rid;
    RAISE EXCEPTION '%/% cannot be written: % refers to %/%, which does not exist in this tenant',
      source.type, source.id, NEW.element, NEW.target_type, NEW.target_id
      USING ERRCODE = 'HR404', DETAIL = NEW.element;
  END IF;
  RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER resource_link_target AFTER INSERT ON resource_link
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION resource_link_check();

CREATE FUNCTION resource_referrers_check() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  referrers text[];
BEGIN
  IF current_setting('hearth.reference_checks', true) = 'off' OR NOT (SELECT referential_integrity FROM auth_setting) THEN
    RETURN NULL;
  END IF;
  -- Revived later in the same transaction: nothing to check.
  PERFORM 1 FROM resource WHERE rid = NEW.rid AND deleted;
  IF NOT FOUND THEN RETURN NULL; END IF;
  SELECT array_agg(format('%s/%s (%s)', s.type, s.id, l.element) ORDER BY s.type, s.id, l.element) INTO referrers
    FROM (SELECT l.rid, l.element FROM resource_link l
          WHERE l.target_type = NEW.type AND l.target_id = NEW.id AND l.rid <> NEW.rid LIMIT 11) l
    JOIN resource s ON s.rid = l.rid AND NOT s.deleted;
  IF cardinality(referrers) > 0 THEN
    RAISE EXCEPTION '%/% cannot be deleted: other resources refer to it: %', NEW.type, NEW.id,
      array_to_string(referrers[1:10], ', ') || CASE WHEN cardinality(referrers) > 10 THEN ' and more' ELSE '' END
      USING ERRCODE = 'HR409';
  END IF;
  RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER resource_referrers AFTER UPDATE OF deleted ON resource
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.deleted AND NOT OLD.deleted)
  EXECUTE FUNCTION resource_referrers_check();
