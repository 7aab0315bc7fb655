/** Conditional create, update, patch and delete — http://hl7.org/fhir/R4/http.html#ccreate, #cond-update, #cdelete */
import { badRequest, multipleMatches, notFound } from '../errors.js';
import { checkResourceBody } from '../validation/check.js';
import { type Context, type Deps, inTransaction } from './context.js';
import type { Resource } from '../fhir/types.js';
import { type FhirRequest, type FhirResult } from '../fhir/request.js';
import { create } from './create.js';
import { lockMatch, matches } from './criteria.js';
import { assertEmptyBody, deleteResource } from './delete.js';
import { patch } from './patch.js';
import { writeUpdate } from './update.js';

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
  const found = await matches(deps, ctx, type, req.query.filter(([name]) => name !== '_cascade'));
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
