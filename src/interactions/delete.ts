/** FHIR delete — https://hl7.org/fhir/R4/http.html#delete */
import { badRequest } from '../errors.js';
import { etag } from '../fhir/etag.js';
import { writeResource } from '../storage/write.js';
import { type Context, type Deps, inTransaction, writeGuard } from './context.js';
import { type FhirRequest, type FhirResult } from '../fhir/request.js';
import { versionPreconditions } from './update.js';

export function assertEmptyBody(req: FhirRequest): void {
  const b = req.body;
  if (b !== undefined && b !== null && !(typeof b === 'string' && b.length === 0)) {
    throw badRequest('A delete request must not have a body');
  }
}

/** Deleting a missing or already-deleted resource is no error: 204 all the same. */
export async function deleteResource(deps: Deps, ctx: Context, req: FhirRequest, type: string, id: string): Promise<FhirResult> {
  assertEmptyBody(req);
  const { ifMatch } = versionPreconditions({ ...req, headers: { ...req.headers, ifNoneMatch: undefined } });
  const guard = writeGuard(ctx, type, 'd');
  const { versioned } = await inTransaction(deps, ctx, (tx) =>
    writeResource(tx, ctx.tenant.schema, { type, id, method: 'DELETE', ...(ifMatch !== undefined ? { ifMatch } : {}) },
      deps.writeHooks, guard));
  return { status: 204, ...(versioned ? { etag: etag(versioned.versionId), lastModified: versioned.lastUpdated } : {}) };
}
