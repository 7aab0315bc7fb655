/**
 * Conditional criteria (If-None-Exist, conditional update/patch/delete, conditional references in transactions):
 * parsed, locked inside the write transaction and matched — http://hl7.org/fhir/R4/http.html#ccreate
 */
import { badRequest, multipleMatches } from '../errors.js';
import type { Params } from '../fhir/types.js';
import { type MatchDefinitions, matchResources } from '../storage/match.js';
import { criteriaKey, lockCriteria } from '../storage/criteria-lock.js';
import type { Versioned } from '../storage/resources.js';
import type { Context, Deps } from './context.js';

/** The query part of criteria such as If-None-Exist; a leading '[type]?' is tolerated (project decision). */
export function parseCriteria(criteria: string, type: string): Params {
  let q = criteria.trim();
  if (q.startsWith(`${type}?`)) q = q.slice(type.length + 1);
  else if (q.startsWith('?')) q = q.slice(1);
  const params = [...new URLSearchParams(q).entries()];
  if (params.length === 0) throw badRequest('Conditional criteria must name at least one search parameter');
  return params;
}

/** The tenant's parameters for conditional criteria, with its base so absolute local references match. */
export const matchDefinitions = (deps: Deps, ctx: Context): MatchDefinitions => ({
  registry: ctx.search, defs: deps.defs, base: ctx.base,
  ...(ctx.access ? { restrict: (type: string) => ctx.access!.required(type, 's') ?? undefined } : {}),
});

export async function matches(deps: Deps, ctx: Context, type: string, params: Params): Promise<Versioned[]> {
  if (params.length === 0) throw badRequest(`A conditional ${type} interaction needs search criteria`);
  return matchResources(ctx.tx ?? deps.db, ctx.tenant.schema, type, params, 2, matchDefinitions(deps, ctx));
}

/** Waits, in the write transaction ctx.tx, until no other transaction may act on these criteria (issue #12 §5). */
export async function lockMatch(ctx: Context, type: string, params: Params): Promise<void> {
  if (!ctx.tx) throw new Error('A conditional write must lock its criteria inside its transaction');
  await lockCriteria(ctx.tx, [criteriaKey(ctx.tenant.schema, type, params)]);
}

/**
 * If-None-Exist: the single existing match, undefined for none; several → 412. Runs in the transaction that will
 * create (ctx.tx), under the criteria's lock, so that concurrent requests with the same criteria create once.
 */
export async function conditionalCreate(deps: Deps, ctx: Context, type: string, criteria: string): Promise<Versioned | undefined> {
  const params = parseCriteria(criteria, type);
  await lockMatch(ctx, type, params);
  const found = await matches(deps, ctx, type, params);
  if (found.length > 1) throw multipleMatches(`If-None-Exist matched more than one ${type}`);
  return found[0];
}
