/** FHIR create — https://hl7.org/fhir/R4/http.html#create */
import crypto from 'node:crypto';
import { writeResource } from '../storage/write.js';
import { checkResourceBody } from '../validation/check.js';
import { type Context, type Deps, type FhirRequest, type FhirResult, inTransaction, writeGuard } from './context.js';
import { versionResult, versionUrl } from './read.js';
import { conditionalCreate } from './conditional.js';

/** `assignedId` is set only by transaction Bundles, which choose ids before writing to rewrite urn:uuid references. */
export async function create(deps: Deps, ctx: Context, req: FhirRequest, type: string, assignedId?: string): Promise<FhirResult> {
  const resource = checkResourceBody(deps, req.body, type);
  if (req.headers.ifNoneExist !== undefined) {
    const existing = await conditionalCreate(deps, ctx, type, req.headers.ifNoneExist);
    if (existing) return { ...versionResult(ctx, existing), location: versionUrl(ctx, existing), write: true };
  }
  const id = assignedId ?? crypto.randomUUID();
  const guard = writeGuard(ctx, type, 'c');
  const { versioned } = await inTransaction(deps, ctx, (tx) =>
    writeResource(tx, ctx.tenant.schema, { type, id, method: 'POST', resource }, deps.writeHooks, guard));
  const v = versioned!;
  return { ...versionResult(ctx, v, 201), location: versionUrl(ctx, v), write: true };
}

