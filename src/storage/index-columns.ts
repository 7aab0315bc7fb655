/** The value columns of each idx_* table (migrations/tenant/002_search_index.sql) with their SQL types. */
import { type CompositeRow, INDEX_TABLES, type IndexRows, type IndexTable } from '../search/extract-types.js';

/** Value columns with types, as jsonb_to_recordset's column list (rid and type come from the resource). */
export const INDEX_COLUMNS: Record<IndexTable, string> = {
  string: 'param text, norm text, exact text, word boolean',
  token: 'param text, system text, code text, code_ci text, display text, type_system text, type_code text',
  reference: 'param text, ref_type text, ref_id text, ref_version text, url text',
  date: 'param text, lo timestamptz, hi timestamptz',
  number: 'param text, value numeric, lo numeric, hi numeric',
  quantity: 'param text, system text, code text, unit text, value numeric, lo numeric, hi numeric',
  uri: 'param text, uri text, version text',
  composite: 'param text, parts jsonb',
};

const namesOf = (table: IndexTable, prefix = '') => INDEX_COLUMNS[table].split(', ').map((c) => prefix + c.split(' ')[0]).join(', ');
/** The column names, for an INSERT's column list. */
export const INDEX_NAMES = Object.fromEntries(INDEX_TABLES.map((t) => [t, namesOf(t)])) as Record<IndexTable, string>;
/** The same names qualified by `x.`, the recordset's alias. */
export const INDEX_SELECTED = Object.fromEntries(INDEX_TABLES.map((t) => [t, namesOf(t, 'x.')])) as Record<IndexTable, string>;

function withoutNulls(row: object): object {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) if (v !== null) out[k] = v;
  return out;
}

const compositeWithoutNulls = (row: CompositeRow): object =>
  ({ param: row.param, parts: row.parts.map((values) => values.map(withoutNulls)) });

/**
 * The non-empty tables of a resource's index rows as they travel to jsonb_to_recordset: absent keys read as NULL
 * there (and with ->>), so nulls are left out. Copying rows without them and stringifying the copies costs about half
 * of JSON.stringify with a replacer function (measured on 2,000 token rows).
 */
export function indexRowsDocument(rows: IndexRows): Record<string, object[]> {
  const out: Record<string, object[]> = {};
  for (const t of INDEX_TABLES) {
    if (rows[t].length === 0) continue;
    out[t] = t === 'composite' ? rows.composite.map(compositeWithoutNulls) : (rows[t] as object[]).map(withoutNulls);
  }
  return out;
}
