/** Conditional create, update, patch and delete — http://hl7.org/fhir/R4/http.html#ccreate, #cond-update, #cdelete */
import { badRequest, multipleMatches, notFound } from '../errors.js';
import { type MatchDefinitions, matchResources } from '../search/match.js';
import { criteriaKey, lockCriteria } from '../storage/criteria-lock.js';
import type { Versioned } from '../storage/resources.js';
import type { Resource } from '../fhir/types.js';
import { checkResourceBody } from '../validation/check.js';
import { type Context, type Deps, type FhirRequest, type FhirResult, type Params, inTransaction } from './context.js';
import { create } from './create.js';
import { assertEmptyBody, deleteResource } from './delete.js';
import { patch } from './patch.js';
import { writeUpdate } from './update.js';

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

async function matches(deps: Deps, ctx: Context, type: string, params: Params): Promise<Versioned[]> {
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

/** The match and the write (update, or create when nothing matched) share one transaction under the criteria's lock. */
export async function conditionalUpdate(deps: Deps, ctx: Context, req: FhirRequest, type: string): Promise<FhirResult> {
  const resource = checkResourceBody(deps, req.body, type);
  if (req.query.length === 0) throw badRequest(`A conditional ${type} interaction needs search criteria`);
  return inTransaction(deps, ctx, async (tx) => {
    const inner = { ...ctx, tx };
    await lockMatch(inner, type, req.query);
    return updateMatch(deps, inner, req, type, resource);
  });
}

async function updateMatch(deps: Deps, ctx: Context, req: FhirRequest, type: string, resource: Resource): Promise<FhirResult> {
  const found = await matches(deps, ctx, type, req.query);
  if (found.length > 1) throw multipleMatches(`The criteria matched more than one ${type}`);
  const match = found[0];
  if (match && resource.id !== undefined && resource.id !== match.id) {
    throw badRequest(`The resource id '${resource.id}' differs from the matched ${type}/${match.id}`, [`${type}.id`]);
  }
  if (!match && resource.id === undefined) return create(deps, ctx, { ...req, body: resource, headers: {} }, type);
  const id = match?.id ?? resource.id!;
  return writeUpdate(deps, ctx, req, type, id, { ...resource, id });
}

export async function conditionalDelete(deps: Deps, ctx: Context, req: FhirRequest, type: string): Promise<FhirResult> {
  assertEmptyBody(req);
  const found = await matches(deps, ctx, type, req.query);
  if (found.length > 1) throw multipleMatches(`The criteria matched more than one ${type}; conditional delete is single`);
  if (!found[0]) return { status: 204 };
  return deleteResource(deps, ctx, req, type, found[0].id);
}

export async function conditionalPatch(deps: Deps, ctx: Context, req: FhirRequest, type: string): Promise<FhirResult> {
  const found = await matches(deps, ctx, type, req.query);
  if (found.length > 1) throw multipleMatches(`The criteria matched more than one ${type}`);
  if (!found[0]) throw notFound(type, `?${new URLSearchParams(req.query).toString()}`);
  return patch(deps, ctx, req, type, found[0].id);
}
