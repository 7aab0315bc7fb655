-- Search index side tables, one per parameter type, keyed by resource row (ARCHITECTURE §3; issue #3).
-- Rows are written in the resource's transaction, replaced on update and removed on delete.
-- Every table: rid = resource.rid, type = resource type, param = the SearchParameter code.

-- string: norm = lower-cased, accents stripped, whitespace collapsed (default starts-with and :contains); exact = as stored.
CREATE TABLE idx_string (
  rid   bigint NOT NULL REFERENCES resource (rid) ON DELETE CASCADE,
  type  text NOT NULL,
  param text NOT NULL,
  norm  text NOT NULL,
  exact text NOT NULL
);
CREATE INDEX idx_string_norm ON idx_string (type, param, norm text_pattern_ops);
CREATE INDEX idx_string_rid ON idx_string (rid);

-- token: Coding/CodeableConcept/Identifier/ContactPoint/code/boolean/id/uri/string values.
-- code_ci = lower(code) (project decision: case-insensitive codes); display = normalised text for :text;
-- type_system/type_code hold Identifier.type for :of-type.
CREATE TABLE idx_token (
  rid         bigint NOT NULL REFERENCES resource (rid) ON DELETE CASCADE,
  type        text NOT NULL,
  param       text NOT NULL,
  system      text,
  code        text,
  code_ci     text,
  display     text,
  type_system text,
  type_code   text
);
CREATE INDEX idx_token_code ON idx_token (type, param, code_ci, system);
CREATE INDEX idx_token_system ON idx_token (type, param, system);
CREATE INDEX idx_token_rid ON idx_token (rid);

-- reference: local references as (ref_type, ref_id[, ref_version]); absolute URLs and canonicals in url.
CREATE TABLE idx_reference (
  rid         bigint NOT NULL REFERENCES resource (rid) ON DELETE CASCADE,
  type        text NOT NULL,
  param       text NOT NULL,
  ref_type    text,
  ref_id      text,
  ref_version text,
  url         text
);
CREATE INDEX idx_reference_target ON idx_reference (type, param, ref_id, ref_type);
CREATE INDEX idx_reference_reverse ON idx_reference (ref_type, ref_id);
CREATE INDEX idx_reference_url ON idx_reference (type, param, url);
CREATE INDEX idx_reference_rid ON idx_reference (rid);

-- date: the value's range [lo, hi) by its precision; Period/Timing bounds; open ends are -infinity/infinity.
CREATE TABLE idx_date (
  rid   bigint NOT NULL REFERENCES resource (rid) ON DELETE CASCADE,
  type  text NOT NULL,
  param text NOT NULL,
  lo    timestamptz NOT NULL,
  hi    timestamptz NOT NULL
);
CREATE INDEX idx_date_lo ON idx_date (type, param, lo);
CREATE INDEX idx_date_hi ON idx_date (type, param, hi);
CREATE INDEX idx_date_rid ON idx_date (rid);

-- number: the value and the range its precision implies.
CREATE TABLE idx_number (
  rid   bigint NOT NULL REFERENCES resource (rid) ON DELETE CASCADE,
  type  text NOT NULL,
  param text NOT NULL,
  value numeric NOT NULL,
  lo    numeric NOT NULL,
  hi    numeric NOT NULL
);
CREATE INDEX idx_number_value ON idx_number (type, param, value);
CREATE INDEX idx_number_rid ON idx_number (rid);

-- quantity: value with system|code (and unit text), plus the precision range.
CREATE TABLE idx_quantity (
  rid    bigint NOT NULL REFERENCES resource (rid) ON DELETE CASCADE,
  type   text NOT NULL,
  param  text NOT NULL,
  system text,
  code   text,
  unit   text,
  value  numeric NOT NULL,
  lo     numeric NOT NULL,
  hi     numeric NOT NULL
);
CREATE INDEX idx_quantity_value ON idx_quantity (type, param, code, value);
CREATE INDEX idx_quantity_rid ON idx_quantity (rid);

-- uri: the value as stored (:below / :above compare prefixes).
CREATE TABLE idx_uri (
  rid   bigint NOT NULL REFERENCES resource (rid) ON DELETE CASCADE,
  type  text NOT NULL,
  param text NOT NULL,
  uri   text NOT NULL
);
CREATE INDEX idx_uri_value ON idx_uri (type, param, uri text_pattern_ops);
CREATE INDEX idx_uri_rid ON idx_uri (rid);

-- composite: one row per container element matched by the parameter's expression; parts holds each component's
-- extracted values (same shapes as the tables above), so components from one element match together.
CREATE TABLE idx_composite (
  rid   bigint NOT NULL REFERENCES resource (rid) ON DELETE CASCADE,
  type  text NOT NULL,
  param text NOT NULL,
  parts jsonb NOT NULL
);
CREATE INDEX idx_composite_param ON idx_composite (type, param);
CREATE INDEX idx_composite_rid ON idx_composite (rid);
