/** FHIR update and update-as-create — https://hl7.org/fhir/R4/http.html#update, #upsert, #concurrency */
import { badRequest, methodNotAllowed } from '../errors.js';
import { parseVersionTag } from '../fhir/etag.js';
import type { Resource } from '../fhir/types.js';
import { writeResource } from '../storage/write.js';
import { checkResourceBody } from '../validation/check.js';
import { type Context, type Deps, inTransaction, writeGuard } from './context.js';
import { type FhirRequest, type FhirResult } from '../fhir/request.js';
import { versionResult, versionUrl } from './read.js';

export function versionPreconditions(req: FhirRequest): { ifMatch?: number; createOnly?: boolean } {
  const { ifMatch, ifNoneMatch } = req.headers;
  const out: { ifMatch?: number; createOnly?: boolean } = {};
  if (ifMatch !== undefined) out.ifMatch = parseVersionTag(ifMatch, 'If-Match');
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch.trim() !== '*') throw badRequest('If-None-Match on update accepts only *');
    out.createOnly = true;
  }
  return out;
}

/** Writes body as the new version of type/id; the caller has checked the body. */
export async function writeUpdate(deps: Deps, ctx: Context, req: FhirRequest, type: string, id: string,
  resource: Resource): Promise<FhirResult> {
  const preconditions = versionPreconditions(req);
  const guard = writeGuard(ctx, type, 'u');
  const { versioned, created } = await inTransaction(deps, ctx, async (tx) => {
    const result = await writeResource(tx, ctx.tenant.schema, { type, id, method: 'PUT', resource, ...preconditions },
      deps.writeHooks, guard);
    if (result.created && !result.previous && !deps.config.updateCreate) {
      throw methodNotAllowed(`${type}/${id} does not exist and this server does not allow update-as-create`);
    }
    return result;
  });
  const v = versioned!;
  return created
    ? { ...versionResult(ctx, v, 201), location: versionUrl(ctx, v), write: true }
    : { ...versionResult(ctx, v), write: true };
}

export async function update(deps: Deps, ctx: Context, req: FhirRequest, type: string, id: string): Promise<FhirResult> {
  const resource = checkResourceBody(deps, req.body, type);
  if (resource.id === undefined) throw badRequest('The resource in an update must carry an id', [`${type}.id`]);
  if (resource.id !== id) {
    throw badRequest(`The resource id '${resource.id}' does not match the URL id '${id}'`, [`${type}.id`]);
  }
  return writeUpdate(deps, ctx, req, type, id, resource);
}
