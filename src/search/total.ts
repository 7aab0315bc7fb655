/** Bundle.total for searches: none, estimate (planner) or accurate within a budget — search.html#total (fhir-search.md §6.8) */
import type { Db, Queryable } from '../db/db.js';
import { type Sql, sql } from '../db/sql.js';
import type { Condition, SearchQuery } from './ast.js';
import type { CompileContext } from './compile/context.js';
import { table } from './compile/context.js';
import { compileCondition } from './compile/index.js';
import { isColumnParam } from './compile/special.js';

/** Project decision: an accurate count may take this long before it is dropped (with a warning) instead. */
export const TOTAL_BUDGET_MS = 1000;

export type Total = { total?: number; warning?: string };

const isTimeout = (e: unknown) => typeof e === 'object' && e !== null && (e as { code?: string }).code === '57014';

async function estimate(db: Queryable, cx: CompileContext, where: Sql): Promise<number | undefined> {
  const rows = await db.query<{ 'QUERY PLAN': unknown }>(sql`EXPLAIN (FORMAT JSON) SELECT 1 FROM ${table(cx, 'resource')} r WHERE ${where}`);
  const raw = rows[0]?.['QUERY PLAN'];
  const plan = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { Plan?: { 'Plan Rows'?: number } }[] | undefined;
  const n = plan?.[0]?.Plan?.['Plan Rows'];
  return typeof n === 'number' ? Math.round(n) : undefined;
}

/**
 * One positive index-backed condition on one type that the access rule does not narrow: countable from its index
 * table alone (a narrowed type needs the resource row, so it counts through the full WHERE clause).
 */
function countableFromIndex(cx: CompileContext, q: Pick<SearchQuery, 'types' | 'conditions'>): Condition | undefined {
  const [c, more] = q.conditions;
  if (q.types.length !== 1 || !c || more || c.kind !== 'value') return undefined;
  if (cx.access && cx.access.condition(q.types[0]!) !== null) return undefined;
  if (c.modifier === 'not' || isColumnParam(c.code) || c.code === '_text' || c.code === '_content') return undefined;
  if (c.type === 'uri' && c.values.some((v) => v.kind === 'uri' && v.version !== undefined)) return undefined;
  return c;
}

function countSql(cx: CompileContext, q: Pick<SearchQuery, 'types' | 'conditions'>, where: Sql): Sql {
  const single = countableFromIndex(cx, q);
  if (single) return compileCondition({ ...cx, countRows: true }, single, { depth: 0, type: q.types[0] });
  return sql`SELECT count(*) AS n FROM ${table(cx, 'resource')} r WHERE ${where}`;
}

/**
 * The total for mode. accurate runs in its own transaction under a statement timeout of the budget (or of the
 * server's own timeout, if shorter); past it the total is left out and a warning explains why. Inside a
 * transaction Bundle (tx given) the count shares that transaction and its timeout.
 */
export async function countMatches(db: Db, tx: Queryable | undefined, cx: CompileContext, q: SearchQuery, where: Sql,
  statementTimeoutMs: number): Promise<Total> {
  if (q.total === 'none') return {};
  if (q.total === 'estimate') return { total: await estimate(tx ?? db, cx, where) ?? 0 };
  const statement = countSql(cx, q, where);
  if (tx) return { total: Number((await tx.query<{ n: number | string }>(statement))[0]!.n) };
  try {
    const budget = Math.min(TOTAL_BUDGET_MS, statementTimeoutMs);
    const rows = await db.transaction((t) => t.query<{ n: number | string }>(statement), { statementTimeoutMs: budget, retries: 0 });
    return { total: Number(rows[0]!.n) };
  } catch (e) {
    if (!isTimeout(e)) throw e;
    return { warning: `Counting the matches took longer than ${TOTAL_BUDGET_MS} ms; Bundle.total is omitted` };
  }
}
