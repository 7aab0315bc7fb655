/** $reindex: rebuilds search index rows as a background job — Hearth operation (conformance/OperationDefinition-reindex.json) */
import { badRequest, methodNotAllowed } from '../errors.js';
import { informational } from '../fhir/outcome.js';
import type { Resource } from '../fhir/types.js';
import type { Context, Deps } from '../interactions/context.js';
import type { FhirRequest, FhirResult } from '../fhir/request.js';
import { inTransaction } from '../interactions/context.js';
import { enqueueJob } from '../jobs/queue.js';

/** Resource types to reindex: the URL's type, or Parameters.parameter[name=type] values; none → all. */
function typesOf(deps: Deps, req: FhirRequest, type?: string): string[] | undefined {
  if (type) return [type];
  const body = req.body as Resource | undefined;
  if (body === undefined || body === null || (typeof body === 'string' && body === '')) return undefined;
  if (body.resourceType !== 'Parameters') throw badRequest('The $reindex body must be a Parameters resource');
  const params = (body.parameter as { name: string; valueCode?: string; valueString?: string }[] | undefined) ?? [];
  const types = params.filter((p) => p.name === 'type').map((p) => p.valueCode ?? p.valueString ?? '');
  for (const t of types) if (!deps.defs.isResourceType(t)) throw badRequest(`'${t}' is not a resource type`);
  return types.length > 0 ? types : undefined;
}

export async function reindexOperation(deps: Deps, ctx: Context, req: FhirRequest, type?: string): Promise<FhirResult> {
  if (req.method !== 'POST') throw methodNotAllowed('$reindex is invoked with POST');
  const types = typesOf(deps, req, type);
  const job = await inTransaction(deps, ctx, (tx) => enqueueJob(tx, ctx.tenant.slug, 'reindex', types ? { types } : {}));
  const status = `${ctx.base}/$job-status?id=${job.id}`;
  return { status: 202, body: informational(`Reindex job ${job.id} queued; poll ${status}`), contentLocation: status };
}
