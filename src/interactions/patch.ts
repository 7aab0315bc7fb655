/** FHIR patch (JSON Patch and FHIRPath Patch) — https://hl7.org/fhir/R4/http.html#patch, fhirpatch.html */
import { badRequest, gone, invalidPatchedResource, notFound, unsupportedMediaType } from '../errors.js';
import { applyFhirPathPatch, assertIdentityUnchanged } from '../fhir/fhirpath-patch.js';
import { applyJsonPatch } from '../fhir/json-patch.js';
import type { Resource } from '../fhir/types.js';
import { lockCurrent } from '../storage/resources.js';
import { writeResource } from '../storage/write.js';
import { checkResourceBody } from '../validation/check.js';
import { type Context, type Deps, inTransaction, writeGuard } from './context.js';
import { type FhirRequest, type FhirResult } from '../fhir/request.js';
import { versionResult } from './read.js';
import { versionPreconditions } from './update.js';

type Patcher = (current: Resource) => Resource;

/** Chooses the patch format from the Content-Type; others → 415. */
export function patcherFor(req: FhirRequest): Patcher {
  const mime = (req.headers.contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (mime === 'application/json-patch+json') return (r) => applyJsonPatch(r, req.body);
  if (mime === 'application/fhir+json' || mime === 'application/json' || mime === 'application/json+fhir') {
    const body = req.body as Resource | undefined;
    if (body?.resourceType !== 'Parameters') throw badRequest('A FHIRPath Patch body must be a Parameters resource');
    return (r) => applyFhirPathPatch(r, body);
  }
  throw unsupportedMediaType(`Patch documents must be JSON Patch (application/json-patch+json) or FHIRPath Patch (a Parameters resource as application/fhir+json, application/json or application/json+fhir), not '${mime || 'a body without a Content-Type'}'`);
}

/** The narrative no longer describes patched data, so it is dropped (project decision, fhir-rest.md §10.12). */
function dropStaleNarrative(before: Resource, after: Resource): Resource {
  if (after.text === undefined) return after;
  const { text: _a, meta: _m1, ...restAfter } = after;
  const { text: _b, meta: _m2, ...restBefore } = before;
  if (JSON.stringify(restAfter) === JSON.stringify(restBefore)) return after;
  const { text: _dropped, ...withoutText } = after;
  return withoutText as Resource;
}

export async function patch(deps: Deps, ctx: Context, req: FhirRequest, type: string, id: string): Promise<FhirResult> {
  const patcher = patcherFor(req);
  const { ifMatch } = versionPreconditions({ ...req, headers: { ...req.headers, ifNoneMatch: undefined } });
  const guard = writeGuard(ctx, type, 'u');
  // a token narrowed to a compartment or constraint cannot tell a deleted resource from one it may not see
  const narrowed = ctx.access !== undefined && ctx.access.narrowing(type, 'u') !== null;
  const { versioned } = await inTransaction(deps, ctx, async (tx) => {
    const current = await lockCurrent(tx, ctx.tenant.schema, type, id);
    if (!current || (narrowed && current.deleted)) throw notFound(type, id);
    if (current.deleted || !current.resource) throw gone(type, id);
    await guard?.before?.(tx, id);
    const patched = dropStaleNarrative(current.resource, patcher(current.resource));
    assertIdentityUnchanged(current.resource, patched);
    const resource = checkResourceBody(deps, patched, type, invalidPatchedResource);
    return writeResource(tx, ctx.tenant.schema,
      { type, id, method: 'PATCH', resource, ...(ifMatch !== undefined ? { ifMatch } : {}) }, deps.writeHooks, guard);
  });
  return { ...versionResult(ctx, versioned!), write: true };
}
