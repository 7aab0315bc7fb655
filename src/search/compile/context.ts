/** Shared pieces of the search SQL compilers: aliases and the EXISTS over one index table — search.html#ptypes */
import type { Definitions } from '../../fhir/definitions.js';
import { type Sql, ident, join, raw, sql } from '../../db/sql.js';
import type { Condition } from '../ast.js';
import type { SearchRegistry } from '../registry.js';

/**
 * The access narrowing a query runs under (SMART scopes, later roles and consent): for each resource type, the
 * condition its rows must meet — null for every row, false for none. Every resource row the compiler reaches
 * (the searched rows, each hop of a chain, each _has source, _list, includes, terminology and id look-ups) is
 * narrowed by it, so no search form can read around it (ARCHITECTURE.md §7).
 */
export interface AccessRule {
  condition(type: string): Condition | null | false;
}

export interface CompileContext {
  /** The tenant schema (a validated slug-derived identifier). */
  schema: string;
  registry: SearchRegistry;
  defs: Definitions;
  /**
   * Compile a lone top-level index condition as `SELECT count(DISTINCT rid)` over its index table instead of an
   * EXISTS: index rows exist only for live resources, so the count never touches the resource table (§6.8).
   */
  countRows?: boolean;
  /** Narrowing applied to every resource row reached; absent = the caller may search everything. */
  access?: AccessRule;
}

/** Where one compiler runs: the resource alias at a nesting depth and its (constant or per-row) resource type. */
export interface Scope {
  depth: number;
  /** The resource type, or undefined when the scope spans all types (system search without _type). */
  type: string | undefined;
}

export const INDEX_TABLES = {
  string: 'idx_string', token: 'idx_token', reference: 'idx_reference', date: 'idx_date', number: 'idx_number',
  quantity: 'idx_quantity', uri: 'idx_uri', composite: 'idx_composite',
} as const;

export type IndexTable = (typeof INDEX_TABLES)[keyof typeof INDEX_TABLES];

/** The resource row alias at a depth: r, r1, r2… (depth grows through chains and _has). */
export const resourceAlias = (depth: number): Sql => sql`${raw(depth === 0 ? 'r' : `r${depth}`)}`;
/** The index row alias at a depth: i, i1, i2… */
export const indexAlias = (depth: number): Sql => sql`${raw(depth === 0 ? 'i' : `i${depth}`)}`;

export const table = (cx: CompileContext, name: IndexTable | 'resource'): Sql => sql`${ident(cx.schema)}.${raw(name)}`;

/** The scope's type as SQL: a bound constant, or the row's own type column. */
export const typeOf = (scope: Scope): Sql =>
  scope.type !== undefined ? sql`${scope.type}` : sql`${resourceAlias(scope.depth)}.type`;

/** `(a OR b)`, just `a`, or FALSE for no alternatives (e.g. an empty ValueSet). */
export function any(parts: Sql[]): Sql {
  if (parts.length === 0) return sql`FALSE`;
  return parts.length === 1 ? parts[0]! : sql`(${join(parts, ' OR ')})`;
}

/** The index rows of one parameter of the scope's resource, optionally narrowed by `where` (over alias i). */
export function indexRows(cx: CompileContext, tableName: IndexTable, scope: Scope, code: string, where?: Sql): Sql {
  const i = indexAlias(scope.depth);
  const r = resourceAlias(scope.depth);
  const extra = where ? sql` AND ${where}` : sql``;
  return sql`SELECT 1 FROM ${table(cx, tableName)} ${i} WHERE ${i}.rid = ${r}.rid AND ${i}.type = ${typeOf(scope)} AND ${i}.param = ${code}${extra}`;
}

export function exists(cx: CompileContext, t: IndexTable, scope: Scope, code: string, where?: Sql): Sql {
  if (cx.countRows && scope.depth === 0) {
    const extra = where ? sql` AND ${where}` : sql``;
    return sql`SELECT count(DISTINCT i.rid) AS n FROM ${table(cx, t)} i WHERE i.type = ${typeOf(scope)} AND i.param = ${code}${extra}`;
  }
  return sql`EXISTS (${indexRows(cx, t, scope, code, where)})`;
}

export const notExists = (cx: CompileContext, t: IndexTable, scope: Scope, code: string, where?: Sql): Sql =>
  sql`NOT EXISTS (${indexRows(cx, t, scope, code, where)})`;
