/** What a search needs the database for before it compiles: ambiguous bare ids, terminology — search.html#reference, #token */
import type { Queryable } from '../db/db.js';
import { sql } from '../db/sql.js';
import { badRequest } from '../errors.js';
import type { Condition, ReferenceValue, SearchQuery } from './ast.js';
import type { CompileContext } from './compile/context.js';
import { table } from './compile/context.js';
import { compileAccess } from './compile/index.js';
import { resolveTerminology } from './terminology.js';

/** Bare ids on parameters that can refer to several types, with the candidate types. */
function bareIds(cx: CompileContext, types: string[], c: Condition): { code: string; id: string; targets: readonly string[] }[] {
  if (c.kind !== 'value' || c.type !== 'reference' || c.modifier !== undefined) return [];
  const targets = [...new Set(types.flatMap((t) => cx.registry.get(t, c.code)?.target ?? []))];
  if (targets.length < 2) return [];
  return (c.values as ReferenceValue[]).filter((v) => v.id !== undefined && v.type === undefined)
    .map((v) => ({ code: c.code, id: v.id!, targets }));
}

/**
 * A bare `[id]` on a multi-target reference parameter that names live resources of more than one of its target
 * types → 400 (fhir-search.md §3.7.2); the client must say which with `:[type]` or `Type/id`. Only resources the
 * caller may search count, so the 400 never tells of one it may not see.
 */
export async function checkAmbiguousIds(db: Queryable, cx: CompileContext, q: SearchQuery): Promise<void> {
  for (const c of q.conditions) {
    for (const { code, id, targets } of bareIds(cx, q.types, c)) {
      const rows = await db.query<{ type: string }>(sql`SELECT DISTINCT r.type FROM ${table(cx, 'resource')} r
        WHERE r.id = ${id} AND r.type = ANY(${[...targets]}) AND NOT r.deleted
          AND ${compileAccess(cx, { depth: 0, type: undefined }, targets)} LIMIT 2`);
      if (rows.length > 1) {
        throw badRequest(`'${code}=${id}' is ambiguous: ${rows.map((r) => r.type).join(' and ')} both have that id; use ${code}:[type]`, [code]);
      }
    }
  }
}

/** The query made ready to compile: ids checked, :in/:not-in/:above/:below replaced by the codes they stand for. */
export async function prepareQuery(db: Queryable, cx: CompileContext, q: SearchQuery): Promise<SearchQuery> {
  await checkAmbiguousIds(db, cx, q);
  const conditions: Condition[] = [];
  for (const c of q.conditions) conditions.push(await resolveTerminology(db, cx, c));
  return { ...q, conditions };
}
