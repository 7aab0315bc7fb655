/** Search index rows written in the resource's own transaction (a WriteHook) — http://hl7.org/fhir/R4/search.html */
import type { Queryable } from '../db/db.js';
import { type Sql, ident, join, raw, sql } from '../db/sql.js';
import type { Change, WriteHook } from './write.js';
import { compileIndexPlans, extractIndexRows } from '../search/extract.js';
import { INDEX_TABLES, type IndexRows, type IndexTable, emptyRows } from '../search/extract-types.js';
import type { SearchRegistry } from '../search/registry.js';

/** Value columns of each idx_* table with their SQL types (rid and type come from the change). */
const COLUMNS: Record<IndexTable, string> = {
  string: 'param text, norm text, exact text, word boolean',
  token: 'param text, system text, code text, code_ci text, display text, type_system text, type_code text',
  reference: 'param text, ref_type text, ref_id text, ref_version text, url text',
  date: 'param text, lo timestamptz, hi timestamptz',
  number: 'param text, value numeric, lo numeric, hi numeric',
  quantity: 'param text, system text, code text, unit text, value numeric, lo numeric, hi numeric',
  uri: 'param text, uri text, version text',
  composite: 'param text, parts jsonb',
};

const namesOf = (table: IndexTable, prefix = '') => COLUMNS[table].split(', ').map((c) => prefix + c.split(' ')[0]).join(', ');
const NAMES = Object.fromEntries(INDEX_TABLES.map((t) => [t, namesOf(t)])) as Record<IndexTable, string>;
const SELECTED = Object.fromEntries(INDEX_TABLES.map((t) => [t, namesOf(t, 'x.')])) as Record<IndexTable, string>;

function deleteStep(schema: string, table: IndexTable): Sql {
  return sql`${raw(`d_${table}`)} AS (DELETE FROM ${ident(schema)}.${ident(`idx_${table}`)} t USING doc WHERE t.rid = doc.rid)`;
}

function insertStep(schema: string, table: IndexTable): Sql {
  return sql`${raw(`i_${table}`)} AS (INSERT INTO ${ident(schema)}.${ident(`idx_${table}`)} (rid, type, ${raw(NAMES[table])})
    SELECT doc.rid, doc.type, ${raw(SELECTED[table])}
    FROM doc, jsonb_to_recordset(doc.rows -> ${raw(`'${table}'`)}) AS x(${raw(COLUMNS[table])}))`;
}

/**
 * One statement per change: the rows travel once as JSON; data-modifying CTEs delete the old rows (skipped for a
 * new resource) and insert the new ones. Sub-statements share one snapshot, so the DELETEs never see the INSERTs.
 */
export function indexStatement(schema: string, change: Pick<Change, 'rid' | 'type' | 'isNew'>, rows: IndexRows): Sql | undefined {
  const filled = INDEX_TABLES.filter((t) => rows[t].length > 0);
  const steps = [
    ...(change.isNew ? [] : INDEX_TABLES.map((t) => deleteStep(schema, t))),
    ...filled.map((t) => insertStep(schema, t)),
  ];
  if (steps.length === 0) return undefined;
  // Absent keys read as NULL in jsonb_to_recordset (and with ->>), so nulls need not travel.
  const doc = JSON.stringify(Object.fromEntries(filled.map((t) => [t, rows[t]])), (_k, v: unknown) => (v === null ? undefined : v));
  return sql`WITH doc AS (SELECT ${change.rid}::bigint AS rid, ${change.type}::text AS type, ${doc}::jsonb AS rows),
    ${join(steps, ',\n    ')}
    SELECT 1`;
}

/** Replaces the index rows of one resource inside the write transaction. */
export async function writeIndexRows(tx: Queryable, schema: string, change: Change, rows: IndexRows): Promise<void> {
  const statement = indexStatement(schema, change, rows);
  if (statement) await tx.query(statement);
}

/** The registry to index with: one for all tenants, or a tenant's own (core plus its custom SearchParameters). */
export type RegistryFor = SearchRegistry | ((tx: Queryable, schema: string) => SearchRegistry | Promise<SearchRegistry>);

/**
 * The write hook that keeps the idx_* tables in step with the resource: rows replaced on update, removed on delete.
 * A fixed registry is compiled now (at boot); a tenant's registry on its first use, reusing the compiled core
 * parameters (plans are cached per SearchParameter definition).
 */
export function indexResource(registryFor: RegistryFor): WriteHook {
  const fixed = typeof registryFor === 'function' ? undefined : registryFor;
  if (fixed) compileIndexPlans(fixed);
  return async (tx, schema, change) => {
    const registry = fixed ?? await (registryFor as Exclude<RegistryFor, SearchRegistry>)(tx, schema);
    const rows = change.resource ? extractIndexRows(registry, change.resource) : emptyRows();
    await writeIndexRows(tx, schema, change, rows);
  };
}
