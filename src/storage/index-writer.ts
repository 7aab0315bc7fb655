/** Search index rows written in the resource's own transaction (a WriteHook) — http://hl7.org/fhir/R4/search.html */
import type { Queryable } from '../db/db.js';
import { type Sql, ident, join, raw, sql } from '../db/sql.js';
import type { Change, WriteHook } from './write.js';
import { deferIndex } from './deferred-writes.js';
import { type Link, LINK_COLUMNS, extractLinks, linksDocument } from './links.js';
import { INDEX_COLUMNS, INDEX_NAMES, INDEX_SELECTED, indexRowsDocument } from './index-columns.js';
import { compileIndexPlans, extractIndexRows } from '../search/extract.js';
import { INDEX_TABLES, type IndexRows, type IndexTable, emptyRows } from '../search/extract-types.js';
import type { SearchRegistry } from '../search/registry.js';
import type { Resource } from '../fhir/types.js';

function deleteStep(schema: string, table: string): Sql {
  return sql`${raw(`d_${table}`)} AS (DELETE FROM ${ident(schema)}.${ident(table)} t USING doc WHERE t.rid = doc.rid)`;
}

function insertStep(schema: string, table: IndexTable): Sql {
  return sql`${raw(`i_${table}`)} AS (INSERT INTO ${ident(schema)}.${ident(`idx_${table}`)} (rid, type, ${raw(INDEX_NAMES[table])})
    SELECT doc.rid, doc.type, ${raw(INDEX_SELECTED[table])}
    FROM doc, jsonb_to_recordset(doc.rows -> ${raw(`'${table}'`)}) AS x(${raw(INDEX_COLUMNS[table])}))`;
}

/**
 * One statement per change: the rows travel once as JSON; data-modifying CTEs delete the old rows (skipped for a
 * new resource) and insert the new ones. Sub-statements share one snapshot, so the DELETEs never see the INSERTs.
 */
export function indexStatement(schema: string, change: { rid: number; type: string; isNew: boolean }, rows: IndexRows,
  links: Link[]): Sql | undefined {
  const filled = INDEX_TABLES.filter((t) => rows[t].length > 0);
  const steps = [
    ...(change.isNew ? [] : [...INDEX_TABLES.map((t) => `idx_${t}`), 'resource_link'].map((t) => deleteStep(schema, t))),
    ...filled.map((t) => insertStep(schema, t)),
    ...(links.length > 0 ? [sql`i_link AS (INSERT INTO ${ident(schema)}.resource_link (rid, element, target_type, target_id)
      SELECT doc.rid, x.e, x.t, x.i FROM doc, jsonb_to_recordset(doc.links) AS x(${raw(LINK_COLUMNS)}))`] : []),
  ];
  if (steps.length === 0) return undefined;
  const doc = JSON.stringify(indexRowsDocument(rows));
  return sql`WITH doc AS (SELECT ${change.rid}::bigint AS rid, ${change.type}::text AS type, ${doc}::jsonb AS rows,
      ${JSON.stringify(linksDocument(links))}::jsonb AS links),
    ${join(steps, ',\n    ')}
    SELECT 1`;
}

/**
 * Replaces the index rows of one resource inside the write transaction: deferred with the transaction's other writes
 * (storage/deferred-writes.ts), or one statement at once.
 */
export async function writeIndexRows(tx: Queryable, schema: string, change: Change, rows: IndexRows, links: Link[]): Promise<void> {
  const { rid, type, id, isNew } = change;
  if (await deferIndex(tx, schema, { ...(rid !== undefined ? { rid } : {}), type, id, isNew, rows, links })) return;
  if (rid === undefined) throw new Error('writeIndexRows: a resource row written at once has a rid');
  const statement = indexStatement(schema, { rid, type, isNew }, rows, links);
  if (statement) await tx.query(statement);
}

/** The registry to index with: one for all tenants, or a tenant's own (core plus its custom SearchParameters). */
export type RegistryFor = SearchRegistry | ((tx: Queryable, schema: string) => SearchRegistry | Promise<SearchRegistry>);

/** The index rows of a resource, extracted once per content object (write hooks after the indexer reuse them). */
const extracted = new WeakMap<Resource, { registry: SearchRegistry; rows: IndexRows }>();

export function indexRowsFor(registry: SearchRegistry, resource: Resource): IndexRows {
  const hit = extracted.get(resource);
  if (hit && hit.registry === registry) return hit.rows;
  const rows = extractIndexRows(registry, resource);
  extracted.set(resource, { registry, rows });
  return rows;
}

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
    const rows = change.resource ? indexRowsFor(registry, change.resource) : emptyRows();
    await writeIndexRows(tx, schema, change, rows, change.resource ? extractLinks(change.resource) : []);
  };
}
