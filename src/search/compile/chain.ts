/** Chained parameters and reverse chaining (_has) as joins through idx_reference — search.html#chaining, #has */
import { type Sql, join, sql } from '../../db/sql.js';
import type { ChainCondition, Condition, HasCondition } from '../ast.js';
import { type CompileContext, type Scope, indexAlias, resourceAlias, table, typeOf } from './context.js';

export type CompileNext = (c: Condition, scope: Scope) => Sql;
/** The access rule's condition for the row at a scope with a constant type (see compileAccess). */
export type CompileAccess = (scope: Scope) => Sql;

/** ` AND <access>` for a row the compiler reaches, nothing when the caller is not narrowed. */
export const andAccess = (cx: CompileContext, access: CompileAccess, scope: Scope): Sql =>
  (cx.access ? sql` AND ${access(scope)}` : sql``);

/**
 * The resources this one refers to through `code` (live ones, of the chain's target types) satisfy the rest of the
 * chain; each target type compiles the rest with its own parameter definitions (fhir-search.md §3.7.9), and each hop
 * is narrowed exactly as a direct search on its type would be. One uncorrelated semi-join per target type, joined by
 * UNION ALL (issue #23 §4): each branch has a constant target type, so the planner can start from the inner condition
 * (the few Patients with this identifier) and reach the referring rows through idx_reference_target, instead of
 * testing an OR over types for every row it scans.
 */
export function compileChain(cx: CompileContext, c: ChainCondition, scope: Scope, next: CompileNext, access: CompileAccess): Sql {
  const i = indexAlias(scope.depth);
  const r = resourceAlias(scope.depth);
  const t = resourceAlias(scope.depth + 1);
  const perTarget = c.targets.map((type) => {
    const hop = { depth: scope.depth + 1, type };
    return sql`SELECT ${i}.rid FROM ${table(cx, 'idx_reference')} ${i} JOIN ${table(cx, 'resource')} ${t} ON ${t}.type = ${type} AND ${t}.id = ${i}.ref_id WHERE ${i}.type = ${typeOf(scope)} AND ${i}.param = ${c.code} AND ${i}.ref_type = ${type} AND NOT ${t}.deleted${andAccess(cx, access, hop)} AND ${next(c.next, hop)}`;
  });
  if (perTarget.length === 0) return sql`FALSE`;
  return sql`${r}.rid IN (${join(perTarget, ' UNION ALL ')})`;
}

/**
 * Some live `source` resource refers to this one through its `code` parameter and satisfies the rest (§3.7.10); the
 * source rows are narrowed exactly as a direct search on the source type would be.
 */
export function compileHas(cx: CompileContext, c: HasCondition, scope: Scope, next: CompileNext, access: CompileAccess): Sql {
  const i = indexAlias(scope.depth);
  const r = resourceAlias(scope.depth);
  const s = resourceAlias(scope.depth + 1);
  const source = { depth: scope.depth + 1, type: c.source };
  const inner = next(c.next, source);
  return sql`EXISTS (SELECT 1 FROM ${table(cx, 'idx_reference')} ${i} JOIN ${table(cx, 'resource')} ${s} ON ${s}.rid = ${i}.rid WHERE ${i}.type = ${c.source} AND ${i}.param = ${c.code} AND ${i}.ref_type = ${typeOf(scope)} AND ${i}.ref_id = ${r}.id AND NOT ${s}.deleted${andAccess(cx, access, source)} AND ${inner})`;
}
