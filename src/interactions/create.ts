/** FHIR create and conditional create — https://hl7.org/fhir/R4/http.html#create, #ccreate */
import crypto from 'node:crypto';
import type { Resource } from '../fhir/types.js';
import { writeResource } from '../storage/write.js';
import { checkResourceBody } from '../validation/check.js';
import { type Context, type Deps, inTransaction, writeGuard } from './context.js';
import { type FhirRequest, type FhirResult } from '../fhir/request.js';
import { versionResult, versionUrl } from './read.js';
import { conditionalCreate } from './criteria.js';

/** `assignedId` is set only by transaction Bundles, which choose ids before writing to rewrite urn:uuid references. */
export async function create(deps: Deps, ctx: Context, req: FhirRequest, type: string, assignedId?: string): Promise<FhirResult> {
  const resource = checkResourceBody(deps, req.body, type);
  const criteria = req.headers.ifNoneExist;
  if (criteria === undefined) return insert(deps, ctx, type, resource, assignedId);
  // The match and the insert share one transaction, under the criteria's lock: exactly once (issue #12 §5).
  return inTransaction(deps, ctx, async (tx) => {
    const inner = { ...ctx, tx };
    const existing = await conditionalCreate(deps, inner, type, criteria);
    if (existing) return { ...versionResult(ctx, existing), location: versionUrl(ctx, existing), write: true };
    return insert(deps, inner, type, resource, assignedId);
  });
}

async function insert(deps: Deps, ctx: Context, type: string, resource: Resource, assignedId?: string): Promise<FhirResult> {
  const id = assignedId ?? crypto.randomUUID();
  const guard = writeGuard(ctx, type, 'c');
  const { versioned } = await inTransaction(deps, ctx, (tx) =>
    writeResource(tx, ctx.tenant.schema, { type, id, method: 'POST', resource }, deps.writeHooks, guard));
  const v = versioned!;
  return { ...versionResult(ctx, v, 201), location: versionUrl(ctx, v), write: true };
}
