/** _include and _revinclude (with :iterate) for one page of matches — http://hl7.org/fhir/R4/search.html#include */
import type { Queryable } from '../db/db.js';
import { type Sql, sql } from '../db/sql.js';
import type { IncludeSpec } from './ast.js';
import type { CompileContext } from './compile/context.js';
import { table } from './compile/context.js';
import { compileAccess } from './compile/index.js';
import { type FoundRow, foundColumns } from './execute.js';

/** Project decision (fhir-search.md §6.4): :iterate follows at most this many levels. */
export const MAX_ITERATE_DEPTH = 3;
/** A guard against runaway pages: at most this many resources per include step. */
export const MAX_INCLUDED = 5000;


/**
 * The access rule over the included row r: with a known type that type's condition, else the row's own type picks
 * among the types the reference can point at (every type when unknown).
 */
function visible(cx: CompileContext, type: string | undefined, candidates?: readonly string[]): Sql {
  if (!cx.access) return sql``;
  return sql` AND ${compileAccess(cx, { depth: 0, type }, candidates)}`;
}

/** Targets of `source:param[:target]` references held by the given resources. */
function forward(cx: CompileContext, spec: IncludeSpec, rids: number[]): Sql {
  const param = spec.param === '*' ? sql`` : sql` AND src.param = ${spec.param}`;
  const target = spec.target ? sql` AND r.type = ${spec.target}` : sql``;
  const source = spec.source === '*' ? sql`` : sql` AND src.type = ${spec.source}`;
  const candidates = spec.source !== '*' && spec.param !== '*' ? cx.registry.get(spec.source, spec.param)?.target : undefined;
  return sql`SELECT DISTINCT ${foundColumns(cx, 'r')} FROM ${table(cx, 'idx_reference')} src
    JOIN ${table(cx, 'resource')} r ON r.type = src.ref_type AND r.id = src.ref_id
    WHERE src.rid = ANY(${rids})${source}${param}${target} AND NOT r.deleted${visible(cx, spec.target, candidates)}
    LIMIT ${MAX_INCLUDED}`;
}

/** `source` resources whose `param` refers to one of the given resources of one type. */
function reverse(cx: CompileContext, spec: IncludeSpec, type: string, ids: string[]): Sql {
  const param = spec.param === '*' ? sql`` : sql` AND src.param = ${spec.param}`;
  const source = spec.source === '*' ? sql`` : sql` AND src.type = ${spec.source}`;
  return sql`SELECT DISTINCT ${foundColumns(cx, 'r')} FROM ${table(cx, 'idx_reference')} src
    JOIN ${table(cx, 'resource')} r ON r.rid = src.rid
    WHERE src.ref_type = ${type} AND src.ref_id = ANY(${ids})${source}${param} AND NOT r.deleted${visible(cx, spec.source === '*' ? undefined : spec.source)}
    LIMIT ${MAX_INCLUDED}`;
}

async function step(db: Queryable, cx: CompileContext, from: FoundRow[], include: IncludeSpec[], revinclude: IncludeSpec[]) {
  const found: FoundRow[] = [];
  for (const spec of include) {
    const rids = from.filter((r) => spec.source === '*' || r.type === spec.source).map((r) => r.rid);
    if (rids.length > 0) found.push(...await db.query<FoundRow>(forward(cx, spec, rids)));
  }
  for (const spec of revinclude) {
    const byType = new Map<string, string[]>();
    for (const r of from) if (!spec.target || spec.target === r.type) byType.set(r.type, [...byType.get(r.type) ?? [], r.id]);
    for (const [type, ids] of byType) found.push(...await db.query<FoundRow>(reverse(cx, spec, type, ids)));
  }
  return found;
}

/**
 * The included resources for a page, each narrowed by the access rule at every step (so :iterate never passes
 * through a resource the caller may not see): every spec applies to the matches; :iterate specs apply again to what was
 * included, up to MAX_ITERATE_DEPTH levels. Matches and duplicates are left out (fhir-search.md §6.5).
 */
export async function findIncludes(db: Queryable, cx: CompileContext, matches: FoundRow[], include: IncludeSpec[],
  revinclude: IncludeSpec[]): Promise<FoundRow[]> {
  const seen = new Set(matches.map((r) => Number(r.rid)));
  const out: FoundRow[] = [];
  let from = matches;
  for (let depth = 0; depth <= MAX_ITERATE_DEPTH && from.length > 0; depth++) {
    const inc = depth === 0 ? include : include.filter((s) => s.iterate);
    const rev = depth === 0 ? revinclude : revinclude.filter((s) => s.iterate);
    if (inc.length === 0 && rev.length === 0) break;
    const fresh: FoundRow[] = [];
    for (const row of await step(db, cx, from, inc, rev)) {
      const rid = Number(row.rid);
      if (seen.has(rid)) continue;
      seen.add(rid);
      fresh.push({ ...row, rid });
    }
    out.push(...fresh);
    from = fresh;
  }
  return out;
}
