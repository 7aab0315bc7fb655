/** The value columns of each idx_* table (migrations/tenant/002_search_index.sql) with their SQL types. */
import { INDEX_TABLES, type IndexTable } from '../search/extract-types.js';

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
