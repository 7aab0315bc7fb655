/**
 * Runs searches for the server's own use (the authorize page's patient and encounter pickers, access narrowing) — one
 * page of current resources, parsed, compiled and sorted exactly as `[type]?…` would be — http://hl7.org/fhir/R4/search.html
 */
import type { Queryable } from '../db/db.js';
import type { Definitions } from '../fhir/definitions.js';
import { PageTokens } from '../fhir/page-token.js';
import type { Params } from '../fhir/types.js';
import { sql } from '../db/sql.js';
import type { Condition } from '../search/ast.js';
import { type CompileContext, table } from '../search/compile/context.js';
import { compileCondition } from '../search/compile/index.js';
import { type FoundRow, findPage, whereClause } from '../search/execute.js';
import { parseSearch } from '../search/parse.js';
import type { SearchRegistry } from '../search/registry.js';
import { prepareQuery } from '../search/resolve.js';
import type { Versioned } from './resources.js';

/** The tenant's search parameters and the definitions a search is parsed with. */
export interface SearchDefinitions {
  registry: SearchRegistry;
  defs: Definitions;
  /** The tenant base, so that absolute references to it count as local ('' when unknown). */
  base?: string;
}

/** Project decision: an in-server search reads one page, of at most this many resources (`_count` may ask fewer). */
export const FIND_MAX = 1000;
const NO_TOKENS = new PageTokens('unused');

export const versionedOf = (type: string, r: Pick<FoundRow, 'id' | 'version' | 'last_updated' | 'content'>): Versioned =>
  ({ type, id: r.id, versionId: r.version, lastUpdated: new Date(r.last_updated), deleted: false, resource: r.content });

/**
 * The first page of live resources of `type` matching a FHIR search query (`_sort`, `_count` and every parameter,
 * modifier and escape as in a REST search). Strict: the server's own queries name no unknown parameter.
 */
export async function findResources(db: Queryable, schema: string, type: string, params: Params,
  definitions: SearchDefinitions): Promise<Versioned[]> {
  const { registry, defs, base = '' } = definitions;
  const parsed = parseSearch({ registry, defs, base }, params, {
    types: [type], strict: true, defaultCount: FIND_MAX, maxCount: FIND_MAX, pageTokens: NO_TOKENS,
  });
  const cx: CompileContext = { schema, registry, defs };
  const q = await prepareQuery(db, cx, parsed);
  const page = await findPage(db, cx, q, whereClause(cx, q.types, q.conditions));
  return page.rows.map((r) => versionedOf(type, r));
}

/** Which of these live resources of `type` meet a search condition (the access narrowing of auth/access.ts). */
export async function idsMatching(db: Queryable, cx: CompileContext, type: string, ids: string[],
  condition: Condition): Promise<string[]> {
  const rows = await db.query<{ id: string }>(sql`SELECT r.id FROM ${table(cx, 'resource')} r
    WHERE r.type = ${type} AND r.id = ANY(${ids}) AND NOT r.deleted AND ${compileCondition(cx, condition, { depth: 0, type })}`);
  return rows.map((r) => r.id);
}
