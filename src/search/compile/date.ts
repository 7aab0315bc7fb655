/** date parameters: the nine prefixes with range semantics over idx_date [lo, hi) — search.html#date, #prefix */
import { type Sql, sql } from '../../db/sql.js';
import type { DateValue, ValueCondition } from '../ast.js';
import { type CompileContext, type Scope, any, exists, indexAlias } from './context.js';

/** ap widens the search range by 10% of its distance from now (project decision, fhir-search.md §3.2.3). */
export function approximately(v: DateValue, now = Date.now()): { lo: Date; hi: Date } {
  const widen = Math.abs(now - v.lo.getTime()) * 0.1;
  return { lo: new Date(v.lo.getTime() - widen), hi: new Date(v.hi.getTime() + widen) };
}

/**
 * Target range T = [lo, hi) against search range S = [S.lo, S.hi); both ends exclusive-high, so the spec's
 * inclusive comparisons shift by one instant: T.lo > S.hi(incl) ⇔ T.lo ≥ S.hi, T.hi(incl) < S.lo ⇔ T.hi ≤ S.lo.
 */
export function rangeMatch(lo: Sql, hi: Sql, v: DateValue): Sql {
  // lo < S.hi follows from the rest; stated, it bounds the range scan of the (type, param, lo) index.
  const eq = sql`(${lo} >= ${v.lo} AND ${lo} < ${v.hi} AND ${hi} <= ${v.hi})`;
  switch (v.prefix) {
    case 'eq': return eq;
    case 'ne': return sql`NOT ${eq}`;
    case 'gt': return sql`${hi} > ${v.hi}`;
    case 'lt': return sql`${lo} < ${v.lo}`;
    case 'ge': return sql`(${hi} > ${v.hi} OR ${eq})`;
    case 'le': return sql`(${lo} < ${v.lo} OR ${eq})`;
    case 'sa': return sql`${lo} >= ${v.hi}`;
    case 'eb': return sql`${hi} <= ${v.lo}`;
    case 'ap': {
      const w = approximately(v);
      return sql`(${lo} < ${w.hi} AND ${hi} > ${w.lo})`;
    }
  }
}

/** A point in time (instant, e.g. meta.lastUpdated) against S; every form keeps the column bare for its index. */
export function pointMatch(t: Sql, v: DateValue): Sql {
  switch (v.prefix) {
    case 'eq': return sql`(${t} >= ${v.lo} AND ${t} < ${v.hi})`;
    case 'ne': return sql`(${t} < ${v.lo} OR ${t} >= ${v.hi})`;
    case 'gt': case 'sa': return sql`${t} >= ${v.hi}`;
    case 'lt': case 'eb': return sql`${t} < ${v.lo}`;
    case 'ge': return sql`${t} >= ${v.lo}`;
    case 'le': return sql`${t} < ${v.hi}`;
    case 'ap': {
      const w = approximately(v);
      return sql`(${t} >= ${w.lo} AND ${t} < ${w.hi})`;
    }
  }
}

export function compileDate(cx: CompileContext, c: ValueCondition, scope: Scope): Sql {
  const i = indexAlias(scope.depth);
  const alternatives = (c.values as DateValue[]).map((v) => rangeMatch(sql`${i}.lo`, sql`${i}.hi`, v));
  return exists(cx, 'idx_date', scope, c.code, any(alternatives));
}
