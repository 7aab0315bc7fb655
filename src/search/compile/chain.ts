/** Chained parameters and reverse chaining (_has) as joins through idx_reference — search.html#chaining, #has */
import { type Sql, sql } from '../../db/sql.js';
import type { ChainCondition, Condition, HasCondition } from '../ast.js';
import { type CompileContext, type Scope, any, indexAlias, resourceAlias, table, typeOf } from './context.js';

export type CompileNext = (c: Condition, scope: Scope) => Sql;

/**
 * The resources this one refers to through `code` (live ones, of the chain's target types) satisfy the rest of the
 * chain; each target type compiles the rest with its own parameter definitions (fhir-search.md §3.7.9).
 */
export function compileChain(cx: CompileContext, c: ChainCondition, scope: Scope, next: CompileNext): Sql {
  const i = indexAlias(scope.depth);
  const r = resourceAlias(scope.depth);
  const t = resourceAlias(scope.depth + 1);
  const perTarget = c.targets.map((type) => sql`(${t}.type = ${type} AND ${next(c.next, { depth: scope.depth + 1, type })})`);
  return sql`EXISTS (SELECT 1 FROM ${table(cx, 'idx_reference')} ${i} JOIN ${table(cx, 'resource')} ${t} ON ${t}.type = ${i}.ref_type AND ${t}.id = ${i}.ref_id WHERE ${i}.rid = ${r}.rid AND ${i}.type = ${typeOf(scope)} AND ${i}.param = ${c.code} AND NOT ${t}.deleted AND ${any(perTarget)})`;
}

/** Some live `source` resource refers to this one through its `code` parameter and satisfies the rest (§3.7.10). */
export function compileHas(cx: CompileContext, c: HasCondition, scope: Scope, next: CompileNext): Sql {
  const i = indexAlias(scope.depth);
  const r = resourceAlias(scope.depth);
  const s = resourceAlias(scope.depth + 1);
  const inner = next(c.next, { depth: scope.depth + 1, type: c.source });
  return sql`EXISTS (SELECT 1 FROM ${table(cx, 'idx_reference')} ${i} JOIN ${table(cx, 'resource')} ${s} ON ${s}.rid = ${i}.rid WHERE ${i}.type = ${c.source} AND ${i}.param = ${c.code} AND ${i}.ref_type = ${typeOf(scope)} AND ${i}.ref_id = ${r}.id AND NOT ${s}.deleted AND ${inner})`;
}
