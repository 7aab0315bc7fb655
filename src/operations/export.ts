/**
 * Bulk Data kick-off: `[base]/$export`, `[base]/Patient/$export`, `[base]/Group/[id]/$export`, GET or POST
 * — http://hl7.org/fhir/uv/bulkdata/STU2/export.html#bulk-data-kick-off-request (bulk-data.md §1–§4).
 * Queues an export job and answers 202 with the absolute status URL in Content-Location.
 */
import { exportThrottled, methodNotAllowed, notFound } from '../errors.js';
import { informational } from '../fhir/outcome.js';
import type { Resource } from '../fhir/types.js';
import type { Access } from '../auth/access.js';
import type { Context, Deps } from '../interactions/context.js';
import type { FhirRequest, FhirResult } from '../fhir/request.js';
import { inTransaction } from '../interactions/context.js';
import { enqueueJob } from '../jobs/queue.js';
import { CONTROL_SCHEMA } from '../db/migrate.js';
import { ident, sql } from '../db/sql.js';
import type { Queryable } from '../db/db.js';
import { readCurrent } from '../storage/resources.js';
import { checkPrefer, parseKickoff } from '../bulk/kickoff.js';
import { type Problems } from '../bulk/problems.js';
import { groupPatients } from '../bulk/patients.js';
import { statusUrl } from '../bulk/status.js';
import type { ExportLevel, ExportParams } from '../bulk/types.js';

/** Seconds a client told to wait (429) should wait before kicking off again. */
const RETRY_AFTER_S = 30;

function accessOf(ctx: Context): Access {
  if (!ctx.access) throw new Error('$export needs an authenticated request');
  return ctx.access;
}

/** Group/[id] must exist (404); POST patient ids must be live Patients, and members for a Group (§3.5). */
async function checkPatients(deps: Deps, ctx: Context, params: ExportParams, problems: Problems): Promise<void> {
  const db = ctx.tx ?? deps.db;
  let members: Set<string> | undefined;
  if (params.level === 'group') {
    const group = await readCurrent(db, ctx.tenant.schema, 'Group', params.group!);
    if (!group || group.deleted) throw notFound('Group', params.group!);
    members = new Set(groupPatients(group.resource!, ctx.base));
  }
  if (!params.patients) return;
  const kept: string[] = [];
  for (const id of params.patients) {
    const p = await readCurrent(db, ctx.tenant.schema, 'Patient', id);
    if (!p || p.deleted) problems.refuse(`patient Patient/${id} was not found`, 'patient', 'not-found');
    else if (members && !members.has(id)) problems.refuse(`patient Patient/${id} is not a member of Group/${params.group}`, 'patient', 'invalid');
    else kept.push(id);
  }
  params.patients = kept;
}

/** At most HEARTH_EXPORT_MAX_JOBS queued or running exports per client and tenant (project decision: 1); 429 beyond. */
async function enqueueWithinLimit(tx: Queryable, deps: Deps, ctx: Context, params: ExportParams) {
  const client = params.principal.clientId;
  await tx.query(sql`SELECT pg_advisory_xact_lock(hashtext(${`hearth.export.${ctx.tenant.slug}.${client}`}))`);
  const [{ n } = { n: 0 }] = await tx.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${ident(CONTROL_SCHEMA)}.job
    WHERE tenant = ${ctx.tenant.slug} AND kind = 'export' AND status IN ('queued', 'running') AND NOT cancel_requested
      AND params->'principal'->>'clientId' = ${client}`);
  if (n >= deps.config.exportMaxJobs) throw exportThrottled(n, deps.config.exportMaxJobs, RETRY_AFTER_S);
  return enqueueJob(tx, ctx.tenant.slug, 'export', params as unknown as Record<string, unknown>);
}

export async function exportOperation(deps: Deps, ctx: Context, req: FhirRequest, level: ExportLevel, group?: string): Promise<FhirResult> {
  if (req.method !== 'GET' && req.method !== 'POST') throw methodNotAllowed('$export is invoked with GET or POST');
  const { handling } = checkPrefer(req.headers.prefer);
  const { params, problems } = parseKickoff(deps, ctx, req, { level, ...(group ? { group } : {}), access: accessOf(ctx), handling });
  await checkPatients(deps, ctx, params, problems);
  const job = await inTransaction(deps, ctx, (tx) => enqueueWithinLimit(tx, deps, ctx, params));
  const location = statusUrl(ctx.base, job.id);
  // What was ignored is told at once too; the manifest's error file keeps it (§3.9).
  const body: Resource = informational(`Export ${job.id} queued; poll ${location}`, params.ignored);
  return { status: 202, body, contentLocation: location };
}
