-- Long values in the search index (issue #12 §8): a btree row holds at most 2,704 bytes, so a 2,600-character
-- name.family, valueString, code, system, uri or reference url made the whole resource unstorable (54000). The
-- lookup indexes now key on left(value, 256) — at most 1 kB of UTF-8 each, two per row at most — and the search
-- compilers compare that key through the index and then the whole value on the row (src/search/compile/index-key.ts).
-- The rows themselves keep every value whole. ref_id and ref_type are bounded by the reference extractor (64
-- characters), and idx_composite is a GIN index of hashes, so neither changes.
DROP INDEX idx_string_norm;
CREATE INDEX idx_string_norm ON idx_string (type, param, left(norm, 256) text_pattern_ops, rid);

DROP INDEX idx_token_code;
CREATE INDEX idx_token_code ON idx_token (type, param, left(code_ci, 256), left(system, 256), rid);
DROP INDEX idx_token_system;
CREATE INDEX idx_token_system ON idx_token (type, param, left(system, 256), rid);

DROP INDEX idx_reference_url;
CREATE INDEX idx_reference_url ON idx_reference (type, param, left(url, 256), rid) WHERE url IS NOT NULL;

DROP INDEX idx_quantity_value;
CREATE INDEX idx_quantity_value ON idx_quantity (type, param, left(code, 256), value, rid);

DROP INDEX idx_uri_value;
CREATE INDEX idx_uri_value ON idx_uri (type, param, left(uri, 256) text_pattern_ops, rid);
