/**
 * Resource, history and index rows as deferred writes (db/deferred.ts, issue #14 §1): everything a transaction wrote
 * since its last read goes to the database as one statement, whatever the number of resources — the new rows of each
 * schema in one INSERT … SELECT from a JSON document, replaced versions in one UPDATE, all index rows of all the
 * resources in one INSERT per idx_* table.
 *
 * One kind covers all three so that index rows of resources created in the same statement can take their `rid` from
 * the INSERT's RETURNING (a resource created in an earlier statement is looked up by its (type, id)).
 */
import { type Deferral, deferring } from '../db/deferred.js';
import type { Queryable } from '../db/db.js';
import { type Sql, ident, raw, sql } from '../db/sql.js';
import type { Resource } from '../fhir/types.js';
import { INDEX_TABLES, type IndexRows, type IndexTable } from '../search/extract-types.js';
import { INDEX_COLUMNS, INDEX_NAMES, INDEX_SELECTED, indexRowsDocument } from './index-columns.js';
import { type Link, LINK_COLUMNS, linksDocument } from './links.js';

/** The write methods of resource_version.method. */
type WriteMethod = 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A new resource's version 1 (its rid is assigned by the INSERT). */
interface NewRow { kind: 'new'; schema: string; type: string; id: string; at: Date; method: WriteMethod; content?: Resource;
  /** The body sealed under the tenant's data key (base64), in place of content, with its words (db/vault.ts). */
  sealed?: string; words?: string; narrative?: string }
/** A later version of an existing row (content and sealed absent for a delete). */
interface VersionRow { kind: 'version'; schema: string; rid: number; type: string; id: string; version: number; at: Date;
  method: WriteMethod; content?: Resource; sealed?: string; words?: string; narrative?: string }
/** The index rows replacing a resource's (rid unknown while its row is itself deferred). */
interface IndexItem { kind: 'index'; schema: string; rid?: number; type: string; id: string; isNew: boolean; rows: IndexRows;
  links: Link[] }

type Item = NewRow | VersionRow | IndexItem;

function newSteps(p: string, s: ReturnType<typeof ident>, rows: NewRow[]): Sql[] {
  const doc = JSON.stringify(rows.map((r) => ({ type: r.type, id: r.id, at: r.at, method: r.method, content: r.content, sealed: r.sealed,
    words: r.words, narrative: r.narrative })));
  return [
    sql`${raw(`${p}new`)} AS (SELECT type, id, at, method, content, decode(sealed, 'base64') AS sealed, words, narrative
      FROM jsonb_to_recordset(${doc}::jsonb) AS x(type text, id text, at timestamptz, method text, content jsonb, sealed text,
        words text, narrative text))`,
    sql`${raw(`${p}ins`)} AS (INSERT INTO ${s}.resource (type, id, version, last_updated, deleted, content, sealed, words, narrative)
      SELECT type, id, 1, at, false, content, sealed, to_tsvector('simple', words), to_tsvector('simple', narrative)
      FROM ${raw(`${p}new`)} RETURNING rid, type, id)`,
    sql`${raw(`${p}insv`)} AS (INSERT INTO ${s}.resource_version (rid, type, id, version, last_updated, method, content, sealed)
      SELECT i.rid, n.type, n.id, 1, n.at, n.method, n.content, n.sealed
      FROM ${raw(`${p}ins`)} i JOIN ${raw(`${p}new`)} n ON n.type = i.type AND n.id = i.id)`,
  ];
}

function versionSteps(p: string, s: ReturnType<typeof ident>, rows: VersionRow[]): Sql[] {
  const doc = JSON.stringify(rows.map((r) => ({ rid: r.rid, type: r.type, id: r.id, version: r.version, at: r.at,
    method: r.method, ...(r.content ? { content: r.content } : {}), ...(r.sealed ? { sealed: r.sealed, words: r.words, narrative: r.narrative } : {}) })));
  return [
    sql`${raw(`${p}ver`)} AS (SELECT rid, type, id, version, at, method, content, decode(sealed, 'base64') AS sealed, words, narrative
      FROM jsonb_to_recordset(${doc}::jsonb)
      AS x(rid bigint, type text, id text, version int, at timestamptz, method text, content jsonb, sealed text, words text, narrative text))`,
    // The rid list is redundant with the join but lets the planner use the primary key: it estimates a
    // jsonb_to_recordset at 100 rows, and would hash-join them against a sequential scan of the whole table.
    sql`${raw(`${p}upd`)} AS (UPDATE ${s}.resource r SET version = v.version, last_updated = v.at,
      deleted = v.method = 'DELETE', content = v.content, sealed = v.sealed, words = to_tsvector('simple', v.words),
      narrative = to_tsvector('simple', v.narrative) FROM ${raw(`${p}ver`)} v
      WHERE r.rid = v.rid AND r.rid = ANY(${rows.map((r) => r.rid)}::bigint[]))`,
    sql`${raw(`${p}updv`)} AS (INSERT INTO ${s}.resource_version (rid, type, id, version, last_updated, method, content, sealed)
      SELECT rid, type, id, version, at, method, content, sealed FROM ${raw(`${p}ver`)})`,
  ];
}

function indexSteps(p: string, s: ReturnType<typeof ident>, items: IndexItem[], sameStatementInserts: boolean): Sql[] {
  const doc = JSON.stringify(items.map((i) => ({ rid: i.rid, type: i.type, id: i.id, new: i.isNew, rows: indexRowsDocument(i.rows),
    ...(i.links.length > 0 ? { links: linksDocument(i.links) } : {}) })));
  const keys = raw(`${p}keys`);
  const lookup = sql`(SELECT r.rid FROM ${s}.resource r WHERE r.type = d.type AND r.id = d.id)`;
  const steps: Sql[] = [
    sql`${raw(`${p}doc`)} AS (SELECT * FROM jsonb_to_recordset(${doc}::jsonb)
      AS x(rid bigint, type text, id text, new boolean, rows jsonb, links jsonb))`,
    sameStatementInserts
      ? sql`${keys} AS (SELECT COALESCE(d.rid, i.rid, ${lookup}) AS rid, d.type, d.new, d.rows, d.links
          FROM ${raw(`${p}doc`)} d LEFT JOIN ${raw(`${p}ins`)} i ON i.type = d.type AND i.id = d.id)`
      : sql`${keys} AS (SELECT COALESCE(d.rid, ${lookup}) AS rid, d.type, d.new, d.rows, d.links FROM ${raw(`${p}doc`)} d)`,
  ];
  const replaced = items.filter((i) => !i.isNew);
  if (replaced.length > 0) {
    // Replaced resources have their rid; by value, the DELETEs use the rid indexes (joined to the JSON document, whose
    // size the planner cannot know, they scanned each idx_* table whole: 10 ms a statement at 20k rows).
    const rids = replaced.map((i) => i.rid);
    const known = rids.every((r) => r !== undefined);
    for (const table of [...INDEX_TABLES.map((t) => `idx_${t}`), 'resource_link']) {
      steps.push(known
        ? sql`${raw(`${p}d_${table}`)} AS (DELETE FROM ${s}.${ident(table)} t WHERE t.rid = ANY(${rids}::bigint[]))`
        : sql`${raw(`${p}d_${table}`)} AS (DELETE FROM ${s}.${ident(table)} t USING ${keys} k WHERE NOT k.new AND t.rid = k.rid)`);
    }
  }
  const filled = new Set<IndexTable>();
  for (const i of items) for (const t of INDEX_TABLES) if (i.rows[t].length > 0) filled.add(t);
  for (const t of INDEX_TABLES.filter((x) => filled.has(x))) {
    steps.push(sql`${raw(`${p}i_${t}`)} AS (INSERT INTO ${s}.${ident(`idx_${t}`)} (rid, type, ${raw(INDEX_NAMES[t])})
      SELECT k.rid, k.type, ${raw(INDEX_SELECTED[t])}
      FROM ${keys} k, jsonb_to_recordset(k.rows -> ${raw(`'${t}'`)}) AS x(${raw(INDEX_COLUMNS[t])}))`);
  }
  if (items.some((i) => i.links.length > 0)) {
    steps.push(sql`${raw(`${p}i_link`)} AS (INSERT INTO ${s}.resource_link (rid, element, target_type, target_id)
      SELECT k.rid, x.e, x.t, x.i FROM ${keys} k, jsonb_to_recordset(k.links) AS x(${raw(LINK_COLUMNS)}) WHERE k.links IS NOT NULL)`);
  }
  return steps;
}

const RESOURCE_WRITES: Deferral<Item> = {
  name: 'resource-writes',
  steps(items, prefix) {
    const bySchema = new Map<string, Item[]>();
    for (const item of items) {
      const list = bySchema.get(item.schema);
      if (list) list.push(item);
      else bySchema.set(item.schema, [item]);
    }
    return [...bySchema.values()].flatMap((list, j) => {
      const p = `${prefix}s${j}_`;
      const s = ident(list[0]!.schema);
      const created = list.filter((i): i is NewRow => i.kind === 'new');
      const versions = list.filter((i): i is VersionRow => i.kind === 'version');
      const indexed = list.filter((i): i is IndexItem => i.kind === 'index');
      return [
        ...(created.length ? newSteps(p, s, created) : []),
        ...(versions.length ? versionSteps(p, s, versions) : []),
        ...(indexed.length ? indexSteps(p, s, indexed, created.length > 0) : []),
      ];
    });
  },
};

/** Defers version 1 of a resource with a fresh server-assigned id; false when q does not defer (send it now). */
export async function deferNew(q: Queryable, schema: string, row: Omit<NewRow, 'kind' | 'schema'>): Promise<boolean> {
  const tx = deferring(q);
  if (!tx) return false;
  await tx.defer<Item>(RESOURCE_WRITES, { kind: 'new', schema, ...await sealedRow(tx, schema, 1, row) }, 1);
  return true;
}

/** The row with its content sealed under the tenant's data key when the tenant has one (db/vault.ts). */
async function sealedRow<R extends { type: string; id: string; content?: Resource }>(q: Queryable, schema: string, version: number,
  row: R): Promise<R> {
  if (!row.content || !q.keyring || !(await q.keyring.sealing(schema))) return row;
  const body = await q.keyring.body(schema, row.type, row.id, version, row.content);
  const { content: _plain, ...rest } = row;
  return { ...rest, sealed: body.sealed!.toString('base64'), ...(body.words !== null ? { words: body.words } : {}),
    ...(body.narrative !== null ? { narrative: body.narrative } : {}) } as unknown as R;
}

export async function deferVersion(q: Queryable, schema: string, row: Omit<VersionRow, 'kind' | 'schema'>): Promise<boolean> {
  const tx = deferring(q);
  if (!tx) return false;
  await tx.defer<Item>(RESOURCE_WRITES, { kind: 'version', schema, ...await sealedRow(tx, schema, row.version, row) }, 1);
  return true;
}

export async function deferIndex(q: Queryable, schema: string, item: Omit<IndexItem, 'kind' | 'schema'>): Promise<boolean> {
  const tx = deferring(q);
  if (!tx) return false;
  await tx.defer<Item>(RESOURCE_WRITES, { kind: 'index', schema, ...item }, 1);
  return true;
}

/** The resource types with writes pending in q (none when q does not defer): what a read ahead of them must avoid. */
export function pendingTypes(q: Queryable): Set<string> {
  return new Set((deferring(q)?.pendingOf(RESOURCE_WRITES) ?? []).map((i) => i.type));
}
