/** $job-status: progress of a background job (GET) and its cancellation (DELETE) — Hearth operation */
import { badRequest, jobNotFound, methodNotAllowed } from '../errors.js';
import type { Resource } from '../fhir/types.js';
import type { Context, Deps } from '../interactions/context.js';
import type { FhirRequest, FhirResult } from '../fhir/request.js';
import { param } from '../fhir/request.js';
import { type Job, cancelJob, getJob } from '../jobs/queue.js';

function toParameters(job: Job): Resource {
  const p = (name: string, value: Record<string, unknown>) => ({ name, ...value });
  const parameter = [
    p('id', { valueString: job.id }),
    p('kind', { valueCode: job.kind }),
    p('status', { valueCode: job.status }),
    p('created', { valueInstant: job.createdAt.toISOString() }),
    ...(job.startedAt ? [p('started', { valueInstant: job.startedAt.toISOString() })] : []),
    ...(job.finishedAt ? [p('finished', { valueInstant: job.finishedAt.toISOString() })] : []),
    ...(job.progress.done !== undefined ? [p('done', { valueInteger: Number(job.progress.done) })] : []),
    ...(job.progress.total !== undefined ? [p('total', { valueInteger: Number(job.progress.total) })] : []),
    ...(job.error ? [p('error', { valueString: job.error })] : []),
    ...(job.result !== undefined ? [p('result', { valueString: JSON.stringify(job.result) })] : []),
  ];
  return { resourceType: 'Parameters', parameter };
}

export async function jobStatusOperation(deps: Deps, ctx: Context, req: FhirRequest): Promise<FhirResult> {
  const id = param(req.query, 'id');
  if (!id) throw badRequest('$job-status needs ?id=<job id>');
  const db = ctx.tx ?? deps.db;
  if (req.method === 'GET' || req.method === 'HEAD') {
    const job = await getJob(db, ctx.tenant.slug, id);
    if (!job) throw jobNotFound(id);
    return { status: 200, body: toParameters(job) };
  }
  if (req.method === 'DELETE') {
    const job = await cancelJob(db, ctx.tenant.slug, id);
    if (!job) throw jobNotFound(id);
    return { status: 202, body: toParameters(job) };
  }
  throw methodNotAllowed('$job-status answers GET and DELETE');
}
