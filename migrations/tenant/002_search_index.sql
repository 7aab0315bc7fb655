-- Search index side tables, one per parameter type, keyed by resource row (ARCHITECTURE §3; issue #3).
-- Rows are written in the resource's transaction by src/search/index-writer.ts, replaced on update and removed on
-- delete. Every table: rid = resource.rid, type = resource type, param = the SearchParameter code.
-- No foreign key to resource: the rows are derived data that only the index writer maintains, resource rows are
-- never physically deleted (a delete keeps the row with content NULL; a tenant goes with DROP SCHEMA), and the
-- per-row FK check made index writes ~15% slower (pgbench, one Observation's rows: 0.72 → 0.61 ms). Anything that
-- ever removes resource rows must remove their idx_* rows too.
-- Lookup indexes end in rid so that searches can be answered from the index alone; the (rid, param) indexes serve
-- the index writer's DELETE and per-resource probes (EXISTS, :missing, _sort).

-- string: norm = normalizeText() of src/search/normalize.ts (NFD, combining marks removed, lower case, punctuation to
-- spaces, whitespace collapsed) for the default starts-with and :contains; exact = the value as stored, for :exact.
-- HumanName → family, given, prefix, suffix, text; Address → line, city, district, state, postalCode, country, text.
CREATE TABLE idx_string (
  rid   bigint NOT NULL,
  type  text NOT NULL,
  param text NOT NULL,
  norm  text NOT NULL,
  exact text NOT NULL,
  -- true on the extra rows of a multi-word HumanName part, one per later word ("Carreno Quinones" → norm
  -- "quinones", exact unchanged), so that starts-with matches each word (fhir-search §3.3.4); _sort skips them.
  word  boolean NOT NULL DEFAULT false
);
CREATE INDEX idx_string_norm ON idx_string (type, param, norm text_pattern_ops, rid);
CREATE INDEX idx_string_rid ON idx_string (rid, param);

-- token: Coding and each CodeableConcept.coding (system, code, display); CodeableConcept.text as a row with only
-- display, unless a coding's display already says the same; Identifier (system, code = value, display = type.text,
-- one row per type coding in type_system/type_code for :of-type); ContactPoint (code = value, system NULL: the
-- ContactPoint system is not a token system); code/boolean ('true'/'false')/id/uri/string primitives (code only).
-- code_ci = lower(code) (project decision: case-insensitive codes, except id elements which compare code exactly);
-- display = normalizeText() of Coding.display / CodeableConcept.text / Identifier.type.text, for :text.
-- Reference.identifier of reference parameter `p` is stored here as param `p:identifier` (for `p:identifier=`).
CREATE TABLE idx_token (
  rid         bigint NOT NULL,
  type        text NOT NULL,
  param       text NOT NULL,
  system      text,
  code        text,
  code_ci     text,
  display     text,
  type_system text,
  type_code   text
);
CREATE INDEX idx_token_code ON idx_token (type, param, code_ci, system, rid);
CREATE INDEX idx_token_system ON idx_token (type, param, system, rid);
CREATE INDEX idx_token_rid ON idx_token (rid, param);

-- reference: a relative reference `Type/id[/_history/v]` → ref_type, ref_id, ref_version, url NULL. An absolute
-- reference keeps the whole URL in url and, when it ends in Type/id[/_history/v], those parts too (compare url
-- with the tenant base to tell local from remote). urn:uuid:/urn:oid: and uri targets → url only. A canonical
-- `url|version` → url = the url, ref_version = the version (NULL without one). Contained `#id` references and
-- references with only an identifier have no row here (the identifier is in idx_token as `param:identifier`).
CREATE TABLE idx_reference (
  rid         bigint NOT NULL,
  type        text NOT NULL,
  param       text NOT NULL,
  ref_type    text,
  ref_id      text,
  ref_version text,
  url         text
);
-- ref_id first: one index serves `param=Type/id`, a bare `param=id`, chains, _has, _revinclude and compartments.
CREATE INDEX idx_reference_target ON idx_reference (ref_id, ref_type, param, type, rid);
CREATE INDEX idx_reference_url ON idx_reference (type, param, url, rid) WHERE url IS NOT NULL;
CREATE INDEX idx_reference_rid ON idx_reference (rid, param);

-- date: [lo, hi) by the value's precision (a date is its whole day, month or year; a dateTime without seconds its
-- whole minute; zoneless times are UTC); instant → [t, t + 1 ms); Period → [start.lo, end.hi) with -infinity /
-- infinity for a missing side; Timing → the outer bounds of event[] and repeat.boundsPeriod.
CREATE TABLE idx_date (
  rid   bigint NOT NULL,
  type  text NOT NULL,
  param text NOT NULL,
  lo    timestamptz NOT NULL,
  hi    timestamptz NOT NULL
);
CREATE INDEX idx_date_lo ON idx_date (type, param, lo, rid);
CREATE INDEX idx_date_hi ON idx_date (type, param, hi, rid);
CREATE INDEX idx_date_rid ON idx_date (rid, param);

-- number: the value and the range its precision implies: decimals ±half a unit of the last written digit
-- (100 → [99.5, 100.5], 1.25 → [1.245, 1.255]; JSON keeps no trailing zeros), integers exactly (lo = hi = value);
-- a Range → value = low (else high), [lo, hi] = [low, high] with -Infinity / Infinity for a missing side.
CREATE TABLE idx_number (
  rid   bigint NOT NULL,
  type  text NOT NULL,
  param text NOT NULL,
  value numeric NOT NULL,
  lo    numeric NOT NULL,
  hi    numeric NOT NULL
);
CREATE INDEX idx_number_value ON idx_number (type, param, value, rid);
CREATE INDEX idx_number_rid ON idx_number (rid, param);

-- quantity: Quantity/Age/Duration/Count/Distance/SimpleQuantity: value, system, code, unit and the precision range
-- as for number; Money: code = currency, system = urn:iso:std:iso:4217, unit NULL; Range: as for number, units
-- from low (else high). No UCUM canonicalisation (fhir-search §3.6.4).
CREATE TABLE idx_quantity (
  rid    bigint NOT NULL,
  type   text NOT NULL,
  param  text NOT NULL,
  system text,
  code   text,
  unit   text,
  value  numeric NOT NULL,
  lo     numeric NOT NULL,
  hi     numeric NOT NULL
);
CREATE INDEX idx_quantity_value ON idx_quantity (type, param, code, value, rid);
CREATE INDEX idx_quantity_rid ON idx_quantity (rid, param);

-- uri: the value as stored (:below / :above compare prefixes); for canonical elements (e.g. meta.profile) a
-- `url|version` is split: uri = the url, version = the business version (fhir-search §3.4.3); else version is NULL.
CREATE TABLE idx_uri (
  rid     bigint NOT NULL,
  type    text NOT NULL,
  param   text NOT NULL,
  uri     text NOT NULL,
  version text
);
CREATE INDEX idx_uri_value ON idx_uri (type, param, uri text_pattern_ops, rid);
CREATE INDEX idx_uri_rid ON idx_uri (rid, param);

-- composite: one row per container element of the parameter's expression (an Observation, or one
-- Observation.component) whose components all have a value. parts[i] = JSON array of component i's values, each
-- shaped like a row of that component's table without rid/type/param (null fields omitted), so components from one
-- element match together. `@>` containment is not positional: check the component index too (parts -> i).
CREATE TABLE idx_composite (
  rid   bigint NOT NULL,
  type  text NOT NULL,
  param text NOT NULL,
  parts jsonb NOT NULL
);
CREATE INDEX idx_composite_parts ON idx_composite USING gin (parts jsonb_path_ops);
CREATE INDEX idx_composite_rid ON idx_composite (rid, param);
