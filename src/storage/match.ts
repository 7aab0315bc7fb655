/**
 * Resolves search criteria to matching resources for conditional interactions and conditional references —
 * http://hl7.org/fhir/R4/http.html#ccreate, #cond-update, #cdelete, #trules (fhir-rest.md §17.10)
 */
import type { Queryable } from '../db/db.js';
import { sql } from '../db/sql.js';
import { sealedColumns } from '../db/vault.js';
import { badRequest } from '../errors.js';
import { PageTokens } from '../fhir/page-token.js';
import type { Params } from '../fhir/types.js';
import type { Versioned } from './resources.js';
import { type SearchDefinitions, versionedOf } from './find.js';
import type { AccessRule, CompileContext } from '../search/compile/context.js';
import { table } from '../search/compile/context.js';
import { type FoundRow, whereClause } from '../search/execute.js';
import { parseSearch } from '../search/parse.js';
import type { Condition } from '../search/ast.js';
import { prepareQuery } from '../search/resolve.js';

export interface MatchDefinitions extends SearchDefinitions {
  /** The caller's access narrowing for a type (SMART scopes): only resources it may search can match. */
  restrict?: (type: string) => Condition | undefined;
}

/** Criteria select; they never shape a result (fhir-rest.md §17.10: `_include`, `_sort` … → 400). */
const RESULT_PARAMS = new Set(['_include', '_revinclude', '_sort', '_count', '_total', '_summary', '_elements',
  '_contained', '_containedType', '_page']);
const IGNORED = new Set(['_format', '_pretty']);

function checkCriteria(params: Params): Params {
  const criteria = params.filter(([k]) => !IGNORED.has(k));
  for (const [k, v] of criteria) {
    if (RESULT_PARAMS.has(k.split(':')[0]!)) throw badRequest(`'${k}' is not allowed in conditional criteria`, [k]);
    if (v === '') throw badRequest(`Search parameter ${k} has an empty value`, [k]);
  }
  return criteria;
}

/**
 * The caller's narrowing as the compiler's access rule (every type the criteria reach, not only the matched type);
 * the matched type is asked first so that a type it may not search is a 403.
 */
function accessOf(restrict: MatchDefinitions['restrict'], type: string): { access?: AccessRule } {
  if (!restrict) return {};
  restrict(type);
  return { access: { condition: (t) => {
    try {
      return restrict(t) ?? null;
    } catch {
      return false;
    }
  } } };
}

/**
 * Up to `limit` live resources of `type` matching the criteria, with the full search engine. Unknown parameters
 * are a 400 here (strict handling): ignoring one would widen a conditional update or delete.
 */
export async function matchResources(db: Queryable, schema: string, type: string, params: Params, limit: number,
  definitions: MatchDefinitions): Promise<Versioned[]> {
  const { registry, defs, base = '' } = definitions;
  const parsed = parseSearch({ registry, defs, base }, checkCriteria(params), {
    types: [type], strict: true, defaultCount: limit, maxCount: limit, pageTokens: new PageTokens('unused'),
  });
  if (parsed.conditions.length === 0) throw badRequest(`A conditional ${type} interaction needs search criteria`);
  const cx: CompileContext = { schema, registry, defs, ...accessOf(definitions.restrict, type) };
  const q = await prepareQuery(db, cx, parsed);
  const rows = await db.query<FoundRow>(sql`SELECT r.type, r.id, r.version, r.last_updated, ${sealedColumns(schema, 'r')}
    FROM ${table(cx, 'resource')} r WHERE ${whereClause(cx, q.types, q.conditions)} LIMIT ${limit}`);
  return rows.map((r) => versionedOf(type, r));
}
