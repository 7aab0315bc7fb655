/** number and quantity parameters: prefixes and precision ranges, system|code units — search.html#number, #quantity */
import { type Sql, sql } from '../../db/sql.js';
import type { NumberValue, QuantityValue, ValueCondition } from '../ast.js';
import { type CompileContext, type Scope, any, exists, indexAlias } from './context.js';
import { keyEquals } from './index-key.js';

/**
 * eq/ne use the search value's implicit range [v − half, v + half); the other prefixes compare the exact value
 * (fhir-search.md §3.1); ap is ±10% (project decision).
 */
export function numberMatch(value: Sql, v: Pick<NumberValue, 'prefix' | 'value' | 'half'>): Sql {
  const n = sql`${v.value}::numeric`;
  const inRange = sql`(${value} >= ${n} - ${v.half}::numeric AND ${value} < ${n} + ${v.half}::numeric)`;
  switch (v.prefix) {
    case 'eq': return inRange;
    case 'ne': return sql`NOT ${inRange}`;
    case 'gt': case 'sa': return sql`${value} > ${n}`;
    case 'lt': case 'eb': return sql`${value} < ${n}`;
    case 'ge': return sql`${value} >= ${n}`;
    case 'le': return sql`${value} <= ${n}`;
    case 'ap': return sql`(${value} >= ${n} - abs(${n}) * 0.1 AND ${value} <= ${n} + abs(${n}) * 0.1)`;
  }
}

export function compileNumber(cx: CompileContext, c: ValueCondition, scope: Scope): Sql {
  const i = indexAlias(scope.depth);
  return exists(cx, 'idx_number', scope, c.code, any((c.values as NumberValue[]).map((v) => numberMatch(sql`${i}.value`, v))));
}

/** `n|system|code` → system and code; `n||code` → code or unit text in any system; `n` → any unit. */
export function quantityMatch(i: Sql, v: QuantityValue): Sql {
  const value = numberMatch(sql`${i}.value`, v);
  if (v.code === undefined) return v.system ? sql`(${value} AND ${i}.system = ${v.system})` : value;
  if (v.system === null) return sql`(${value} AND (${i}.code = ${v.code} OR ${i}.unit = ${v.code}))`;
  return sql`(${value} AND ${i}.system = ${v.system} AND ${keyEquals(sql`${i}.code`, v.code)})`;
}

export function compileQuantity(cx: CompileContext, c: ValueCondition, scope: Scope): Sql {
  const i = indexAlias(scope.depth);
  return exists(cx, 'idx_quantity', scope, c.code, any((c.values as QuantityValue[]).map((v) => quantityMatch(i, v))));
}
