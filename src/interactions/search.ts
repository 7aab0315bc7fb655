/** FHIR search at type and system level, by GET and by POST _search — http://hl7.org/fhir/R4/http.html#search */
import { unsupportedMediaType } from '../errors.js';
import type { Condition, IncludeSpec, SearchQuery } from '../search/ast.js';
import type { CompileContext } from '../search/compile/context.js';
import { type Page, findAllRows, findPage, whereClause } from '../search/execute.js';
import { MAX_INCLUDED, findIncludes } from '../search/include.js';
import { isStrict, parseSearch } from '../search/parse.js';
import { prepareQuery } from '../search/resolve.js';
import { searchsetBundle } from '../search/searchset.js';
import { type Total, countMatches } from '../search/total.js';
import { type Context, type Deps, inTransaction } from './context.js';
import { type Params } from '../fhir/types.js';
import { type FhirRequest, type FhirResult } from '../fhir/request.js';

/** What is searched: a type, several (compartment *), or the whole system; plus conditions the URL implies. */
export interface SearchTarget {
  /** Undefined → system search, narrowed by _type. */
  types?: string[];
  /** types already reflect `_type` (compartment `*`). */
  typeApplied?: boolean;
  /** Path relative to the base, for the links. */
  path: string;
  /** ANDed with the query's own (compartment membership). */
  conditions?: Condition[];
  /** Added to the query's own. */
  include?: IncludeSpec[];
  /** Resources added once, as includes of the first page (Patient/$everything: what the compartment refers to). */
  firstPageIncludes?: { types: string[]; conditions: Condition[] };
}

const isParams = (body: unknown): body is Params =>
  Array.isArray(body) && body.every((p) => Array.isArray(p) && p.length === 2 && p.every((s) => typeof s === 'string'));

/** POST _search: a form body's parameters follow the URL's (repeats mean AND); any other body → 415 (§15.1). */
export function searchParams(req: FhirRequest): Params {
  if (req.method !== 'POST') return req.query;
  const type = req.headers.contentType?.split(';')[0]!.trim().toLowerCase();
  if (req.body === undefined || req.body === '' || req.body === null) return req.query;
  if (type !== 'application/x-www-form-urlencoded' || !isParams(req.body)) {
    throw unsupportedMediaType('POST _search takes an application/x-www-form-urlencoded body');
  }
  return [...req.query, ...req.body];
}

export function parseRequest(deps: Deps, ctx: Context, req: FhirRequest, target: SearchTarget): SearchQuery {
  const q = parseSearch({ registry: ctx.search, defs: deps.defs, base: ctx.base }, searchParams(req), {
    ...(target.types ? { types: target.types } : {}),
    ...(target.typeApplied ? { typeApplied: true } : {}),
    strict: isStrict(req.headers.prefer),
    defaultCount: deps.config.defaultPageSize,
    maxCount: deps.config.maxPageSize,
    pageTokens: deps.pageTokens,
  });
  checkScopes(ctx, req, q);
  return { ...q, conditions: [...(target.conditions ?? []), ...q.conditions],
    include: [...q.include, ...(target.include ?? [])] };
}

/**
 * The token's checks on a search (smart-app-launch.md §9.5, §9.9): chained and _has types must be searchable, and
 * types named explicitly (a type search, `_type`) must all be allowed (403); a search of every type skips those no
 * scope allows. The narrowing itself is the compiler's access rule (compileContext), applied to every row reached.
 */
function checkScopes(ctx: Context, req: FhirRequest, q: SearchQuery): void {
  if (!ctx.access) return;
  ctx.access.checkReachable(q.conditions);
  const explicit = q.types.length === 1 || searchParams(req).some(([k]) => k === '_type');
  ctx.access.checkSearch(q.types, explicit);
}

/** The compiler's context for a request: the tenant's schema and parameters, narrowed by the token's scopes. */
export const compileContext = (deps: Deps, ctx: Context): CompileContext => ({
  schema: ctx.tenant.schema, registry: ctx.search, defs: deps.defs,
  ...(ctx.access ? { access: ctx.access.searchRule } : {}),
});

interface Found { page: Page; includes: Awaited<ReturnType<typeof findIncludes>> }

/** The page and its includes, in one read transaction under the statement timeout. */
async function findAll(deps: Deps, ctx: Context, cx: CompileContext, q: SearchQuery, where: ReturnType<typeof whereClause>,
  firstPage?: SearchTarget['firstPageIncludes']): Promise<Found> {
  if (q.summary === 'count' || q.count === 0) return { page: { rows: [] }, includes: [] };
  return inTransaction(deps, ctx, async (tx) => {
    const page = await findPage(tx, cx, q, where);
    // Included resources obey the same scopes as matches (smart-app-launch.md §9.9): the access rule narrows them.
    const includes = await findIncludes(tx, cx, page.rows, q.include, q.revinclude);
    if (firstPage && q.page === undefined) {
      const seen = new Set([...page.rows, ...includes].map((r) => Number(r.rid)));
      const all = firstPage.types.length === deps.defs.resourceTypes.size;
      for (const row of await findAllRows(tx, cx, whereClause(cx, firstPage.types, firstPage.conditions, all), MAX_INCLUDED)) {
        if (!seen.has(row.rid)) includes.push(row);
      }
    }
    return { page, includes };
  });
}

/** Runs a parsed search and answers its searchset Bundle. */
export async function runSearch(deps: Deps, ctx: Context, parsed: SearchQuery, path: string,
  firstPage?: SearchTarget['firstPageIncludes']): Promise<FhirResult> {
  const cx = compileContext(deps, ctx);
  const q = await prepareQuery(ctx.tx ?? deps.db, cx, parsed);
  const where = whereClause(cx, q.types, q.conditions, q.types.length === deps.defs.resourceTypes.size);
  const found = await findAll(deps, ctx, cx, q, where, firstPage);
  // A first page that holds every match is its own count (no second query).
  const whole = q.page === undefined && found.page.next === undefined && q.count > 0 && q.summary !== 'count';
  const total: Total = whole && q.total !== 'none' ? { total: found.page.rows.length }
    : await countMatches(deps.db, ctx.tx, cx, q, where, deps.config.statementTimeoutMs);
  const warnings = [...q.ignored.map((p) => `Search parameter '${p}' is unknown or unsupported and was ignored`),
    ...(total.warning ? [total.warning] : [])];
  const body = searchsetBundle({ base: ctx.base, path, query: q, page: found.page, includes: found.includes,
    ...(total.total !== undefined ? { total: total.total } : {}), warnings }, deps.defs, deps.pageTokens);
  return { status: 200, body };
}

export async function searchTarget(deps: Deps, ctx: Context, req: FhirRequest, target: SearchTarget): Promise<FhirResult> {
  return runSearch(deps, ctx, parseRequest(deps, ctx, req, target), target.path, target.firstPageIncludes);
}

/** search-type (`[type]?…`, `[type]/_search`) and search-system (`?_type=…`, `_search`). */
export async function search(deps: Deps, ctx: Context, req: FhirRequest, type?: string): Promise<FhirResult> {
  return searchTarget(deps, ctx, req, type ? { types: [type], path: type } : { path: '' });
}
