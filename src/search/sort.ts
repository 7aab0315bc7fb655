/** _sort keys as SQL and keyset (cursor) conditions over them — http://hl7.org/fhir/R4/search.html#sort, http.html#paging */
import { type Sql, join, raw, sql } from '../db/sql.js';
import { badRequest } from '../errors.js';
import type { PageKey } from '../fhir/page-token.js';
import type { SortKey } from './ast.js';
import { type CompileContext, INDEX_TABLES, table } from './compile/context.js';
import type { SearchRegistry } from './registry.js';

/** One ORDER BY key: its expression over alias r, its SQL type (for binding cursor values back) and nullability. */
export interface SortColumn {
  expr: Sql;
  descending: boolean;
  nullable: boolean;
  cast: 'text' | 'timestamptz' | 'numeric' | 'bigint';
}

/** Per type: the column aggregated for ascending and descending order ("earliest value in the sort direction"). */
const SORT_VALUE: Record<string, { asc: string; desc: string; cast: SortColumn['cast']; only?: string }> = {
  // The extra per-word rows of name parts are for matching only.
  string: { asc: 'min(i.norm)', desc: 'max(i.norm)', cast: 'text', only: ' AND NOT i.word' },
  token: { asc: 'min(i.code_ci)', desc: 'max(i.code_ci)', cast: 'text' },
  reference: { asc: "min(coalesce(i.ref_type || '/' || i.ref_id, i.url))", desc: "max(coalesce(i.ref_type || '/' || i.ref_id, i.url))", cast: 'text' },
  date: { asc: 'min(i.lo)', desc: 'max(i.hi)', cast: 'timestamptz' },
  number: { asc: 'min(i.value)', desc: 'max(i.value)', cast: 'numeric' },
  quantity: { asc: 'min(i.value)', desc: 'max(i.value)', cast: 'numeric' },
  uri: { asc: 'min(i.uri)', desc: 'max(i.uri)', cast: 'text' },
};

function paramColumn(cx: CompileContext, registry: SearchRegistry, types: string[], key: SortKey): SortColumn {
  const def = registry.get(types[0]!, key.code)!;
  const spec = SORT_VALUE[def.type];
  if (!spec) throw badRequest(`'${key.code}' cannot be used to sort`, ['_sort']);
  const tableName = INDEX_TABLES[def.type as keyof typeof INDEX_TABLES];
  const type = types.length === 1 ? sql`${types[0]}` : sql`r.type`;
  const agg = raw(key.descending ? spec.desc : spec.asc);
  return {
    expr: sql`(SELECT ${agg} FROM ${table(cx, tableName)} i WHERE i.rid = r.rid AND i.type = ${type} AND i.param = ${key.code}${raw(spec.only ?? '')})`,
    descending: key.descending, nullable: true, cast: spec.cast,
  };
}

/**
 * The ORDER BY columns: the requested keys, or the default `_lastUpdated` descending then `_id` (project
 * decision, fhir-search.md §6.1); the row id always ends the list so that the order is total.
 */
export function sortColumns(cx: CompileContext, types: string[], keys: SortKey[]): SortColumn[] {
  const chosen = keys.length > 0 ? keys : [{ code: '_lastUpdated', descending: true }, { code: '_id', descending: false }];
  const columns = chosen.map((k): SortColumn => {
    if (k.code === '_id') return { expr: sql`r.id`, descending: k.descending, nullable: false, cast: 'text' };
    if (k.code === '_lastUpdated') return { expr: sql`r.last_updated`, descending: k.descending, nullable: false, cast: 'timestamptz' };
    return paramColumn(cx, cx.registry, types, k);
  });
  return [...columns, { expr: sql`r.rid`, descending: false, nullable: false, cast: 'bigint' }];
}

const column = (n: number): Sql => sql`${raw(`q.s${n}`)}`;
const bound = (c: SortColumn, v: string): Sql => sql`${v}::${raw(c.cast)}`;

function equal(c: SortColumn, n: number, v: string | null): Sql {
  return v === null ? sql`${column(n)} IS NULL` : sql`${column(n)} = ${bound(c, v)}`;
}

/** Strictly beyond v in the walking direction; nulls sort last in the page order. */
function beyond(c: SortColumn, n: number, v: string | null, backwards: boolean): Sql {
  const k = column(n);
  if (backwards) {
    if (v === null) return c.nullable ? sql`${k} IS NOT NULL` : sql`FALSE`;
    return c.descending ? sql`${k} > ${bound(c, v)}` : sql`${k} < ${bound(c, v)}`;
  }
  if (v === null) return sql`FALSE`;
  const cmp = c.descending ? sql`${k} < ${bound(c, v)}` : sql`${k} > ${bound(c, v)}`;
  return c.nullable ? sql`(${cmp} OR ${k} IS NULL)` : cmp;
}

/** Names the order a cursor belongs to; a cursor of another order is refused instead of cast into this one. */
export const sortSignature = (keys: SortKey[]): string => keys.map((k) => (k.descending ? '-' : '') + k.code).join(',') || '_default';

/**
 * Rows after (or, for a previous page, before) the cursor: OR over each key of "earlier keys equal, this one
 * beyond". The cursor's last element is the sortSignature of its order.
 */
export function keysetCondition(columns: SortColumn[], page: PageKey, signature: string): Sql {
  if (page.k.length !== columns.length + 1 || page.k[columns.length] !== signature) {
    throw badRequest('The page link does not belong to this query; repeat the search');
  }
  const values = page.k.slice(0, columns.length).map((v) => (v === null ? null : String(v)));
  const backwards = page.d === 'p';
  const alternatives = columns.map((c, j) => {
    const parts = [...columns.slice(0, j).map((e, l) => equal(e, l, values[l]!)), beyond(c, j, values[j]!, backwards)];
    return sql`(${join(parts, ' AND ')})`;
  });
  const first = columns[0]!;
  const v0 = values[0];
  // The first key's bound on its own lets PostgreSQL use an index range on it.
  const range = first.nullable || v0 === null || v0 === undefined ? [] :
    [(first.descending !== backwards) ? sql`${column(0)} <= ${bound(first, v0)}` : sql`${column(0)} >= ${bound(first, v0)}`];
  return join([...range, sql`(${join(alternatives, ' OR ')})`], ' AND ');
}

/** ORDER BY for walking forwards (page order) or backwards (reversed; the page is flipped after fetching). */
export function orderBy(columns: SortColumn[], backwards: boolean): Sql {
  return join(columns.map((c, n) => {
    const desc = c.descending !== backwards;
    const nulls = c.nullable ? (backwards ? ' NULLS FIRST' : ' NULLS LAST') : '';
    return sql`${column(n)} ${raw(desc ? 'DESC' : 'ASC')}${raw(nulls)}`;
  }), ', ');
}
