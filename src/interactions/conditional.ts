/** Conditional create, update, patch and delete — http://hl7.org/fhir/R4/http.html#ccreate, #cond-update, #cdelete */
import { badRequest, multipleMatches, notFound } from '../errors.js';
import { type MatchDefinitions, matchResources } from '../search/match.js';
import type { Versioned } from '../storage/resources.js';
import { checkResourceBody } from '../validation/check.js';
import type { Context, Deps, FhirRequest, FhirResult, Params } from './context.js';
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

/** If-None-Exist: the single existing match, undefined for none; several → 412. */
export async function conditionalCreate(deps: Deps, ctx: Context, type: string, criteria: string): Promise<Versioned | undefined> {
  const found = await matches(deps, ctx, type, parseCriteria(criteria, type));
  if (found.length > 1) throw multipleMatches(`If-None-Exist matched more than one ${type}`);
  return found[0];
}

export async function conditionalUpdate(deps: Deps, ctx: Context, req: FhirRequest, type: string): Promise<FhirResult> {
  const resource = checkResourceBody(deps, req.body, type);
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
