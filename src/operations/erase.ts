/**
 * The right to erasure (issue #17 §3; README "Erasure"): `POST [base]/Patient/[id]/$erase` removes the patient's
 * compartment for good as a job — every version of every resource in it and in no other patient's, their index rows,
 * the tenant's earlier export files, the patient's own sign-in accounts — and writes one AuditEvent with who, why and
 * how much. `dryRun=true` answers at once with what would go. `POST [base]/[type]/[id]/$expunge` removes one
 * resource's history (conformance/OperationDefinition-erase.json, -expunge.json).
 */
import { erasureEvent } from '../audit/security.js';
import { checkText } from '../auth/break-glass.js';
import { AUTH_CHANNEL, authChanged } from '../auth/grant-cache.js';
import { exportStore } from '../bulk/store.js';
import type { Queryable } from '../db/db.js';
import { ident, sql } from '../db/sql.js';
import { badRequest, methodNotAllowed, notFound } from '../errors.js';
import { informational } from '../fhir/outcome.js';
import type { FhirRequest, FhirResult } from '../fhir/request.js';
import type { Resource } from '../fhir/types.js';
import { type Context, type Deps, type ServerJobHandler, inTransaction } from '../interactions/context.js';
import { enqueueJob, getJob } from '../jobs/queue.js';
import { type ErasurePlan, FHIR_ID, eraseResources, expungeHistory, planErasure } from '../storage/erase.js';
import { operationInputs } from './parameters.js';

/** Resources removed per transaction (each batch commits with the job's progress). */
const BATCH = 50;

interface EraseParams {
  patient: string;
  reason: string;
  base: string;
  principal: { clientId: string; subject: string; fhirUser?: string };
}

interface EraseProgress { resources: number; versions: number; indexRows: number; done?: number; total?: number }

function dryRunOf(value: string | undefined): boolean {
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  throw badRequest(`dryRun must be true or false, not '${value}'`, ['dryRun']);
}

/** The plan as Parameters: each resource that would go (with its versions), each kept as shared, and the totals. */
function planParameters(plan: ErasurePlan): Resource {
  return { resourceType: 'Parameters', parameter: [
    { name: 'resources', valueInteger: plan.erase.length },
    { name: 'versions', valueInteger: plan.erase.reduce((n, e) => n + e.versions, 0) },
    ...plan.erase.map((e) => ({ name: 'erase', part: [
      { name: 'resource', valueReference: { reference: `${e.type}/${e.id}` } }, { name: 'versions', valueInteger: e.versions }] })),
    ...plan.shared.map((e) => ({ name: 'kept', part: [
      { name: 'resource', valueReference: { reference: `${e.type}/${e.id}` } },
      { name: 'reason', valueString: 'also in the compartment of other patients' },
      ...e.patients.map((p) => ({ name: 'patient', valueReference: { reference: `Patient/${p}` } }))] })),
  ] };
}

export async function eraseOperation(deps: Deps, ctx: Context, req: FhirRequest, id: string): Promise<FhirResult> {
  if (req.method !== 'POST') throw methodNotAllowed('$erase is invoked with POST');
  if (!ctx.access) throw new Error('$erase needs an authenticated request');
  if (!FHIR_ID.test(id)) throw notFound('Patient', id);
  const inputs = operationInputs(req);
  const dryRun = dryRunOf(inputs.one('dryRun'));
  const reason = checkText(inputs.one('reason'), 'reason'); // why, for the AuditEvent
  const db = ctx.tx ?? deps.db;
  if (!(await hasVersions(db, ctx.tenant.schema, id))) throw notFound('Patient', id);
  if (dryRun) return { status: 200, body: planParameters(await planErasure(db, ctx.search, ctx.tenant.schema, id)) };
  const { principal } = ctx.access;
  const params: EraseParams = { patient: id, reason, base: ctx.base, principal: { clientId: principal.clientId,
    subject: principal.subject, ...(principal.fhirUser ? { fhirUser: principal.fhirUser } : {}) } };
  const job = await inTransaction(deps, ctx, (tx) => enqueueJob(tx, ctx.tenant.slug, 'erase', params as unknown as Record<string, unknown>));
  const status = `${ctx.base}/$job-status?id=${job.id}`;
  return { status: 202, body: informational(`Erasure ${job.id} of Patient/${id} queued; poll ${status}`), contentLocation: status };
}

/** True when the Patient has stored versions: one never written, or already erased (a tombstone), answers 404. */
async function hasVersions(db: Queryable, schema: string, id: string): Promise<boolean> {
  return (await db.query(sql`SELECT 1 FROM ${ident(schema)}.resource_version WHERE type = 'Patient' AND id = ${id} LIMIT 1`)).length > 0;
}

/**
 * The erasure job: plans, then removes BATCH resources per transaction with its progress (a job stopped half-way plans
 * again on resume: what is gone no longer appears, the counts carry on), then the tenant's export files made before
 * it, the patient's sign-in accounts, and writes the AuditEvent.
 */
export const eraseJob: ServerJobHandler = async (ctx) => {
  const { deps, tenant, job } = ctx;
  const params = job.params as unknown as EraseParams;
  const progress: EraseProgress = { resources: 0, versions: 0, indexRows: 0, ...job.progress };
  const registry = await deps.tenantSearch.registryFor(deps.db, tenant.schema);
  const plan = await planErasure(deps.db, registry, tenant.schema, params.patient);
  progress.total = (progress.done ?? 0) + plan.erase.length;
  for (let i = 0; i < plan.erase.length; i += BATCH) {
    await deps.db.transaction(async (tx) => {
      const removed = await eraseResources(tx, tenant.schema, plan.erase.slice(i, i + BATCH));
      progress.resources += removed.resources;
      progress.versions += removed.versions;
      progress.indexRows += removed.indexRows;
      progress.done = (progress.done ?? 0) + removed.resources;
      await ctx.progress({ ...progress }, tx);
    });
  }
  const s = ident(tenant.schema);
  const accounts = await deps.db.transaction(async (tx) => {
    const users = await tx.query<{ id: string }>(sql`DELETE FROM ${s}.auth_user WHERE fhir_user = ${`Patient/${params.patient}`}
      RETURNING id::text AS id`);
    if (users.length > 0) {
      await tx.query(sql`UPDATE ${s}.auth_grant SET revoked_at = now() WHERE user_id::text = ANY(${users.map((u) => u.id)}::text[])
        AND revoked_at IS NULL`);
    }
    await tx.query(sql`DELETE FROM ${s}.export_patient WHERE id = ${params.patient}`);
    // Consents, roles' relationships and grants are cached on every node: they read the tenant again.
    await tx.query(sql`SELECT pg_notify(${AUTH_CHANNEL}, ${tenant.schema})`);
    return users.length;
  });
  authChanged(tenant.schema);
  const exports = await removeEarlierExports(deps, tenant.slug, job.createdAt);
  const counts = { resources: progress.resources, versions: progress.versions, 'index rows': progress.indexRows,
    'kept as shared': plan.shared.length, 'export file sets': exports, 'sign-in accounts': accounts };
  await deps.audit.record(tenant.schema, [erasureEvent(params.base, params.principal, deps.audit.now(), params.patient,
    params.reason, counts, job.id)]);
  return { patient: params.patient, ...counts, kept: plan.shared.map((e) => `${e.type}/${e.id}`) };
};

/**
 * Export files may hold the patient's data: the files of every export of the tenant requested before the erasure go
 * (their status then lists files that answer 404; a client exports again). Answers how many exports lost their files.
 */
async function removeEarlierExports(deps: Deps, slug: string, before: Date): Promise<number> {
  const store = exportStore(deps);
  let removed = 0;
  for (const { tenant, job } of await store.jobs()) {
    if (tenant !== slug) continue;
    const exported = await getJob(deps.db, tenant, job);
    if (exported && exported.createdAt.getTime() > before.getTime()) continue;
    await store.remove(tenant, job);
    removed++;
  }
  return removed;
}

/**
 * `POST [base]/[type]/[id]/$expunge`: a live resource keeps its current version only; a deleted one goes with all its
 * versions (afterwards 404, as if never written). Answers the versions removed.
 */
export async function expungeOperation(deps: Deps, ctx: Context, req: FhirRequest, type: string, id: string): Promise<FhirResult> {
  if (req.method !== 'POST') throw methodNotAllowed('$expunge is invoked with POST');
  operationInputs(req); // a body, if any, must be Parameters
  const result = await inTransaction(deps, ctx, (tx) => expungeHistory(tx, ctx.tenant.schema, type, id));
  if (!result) throw notFound(type, id);
  return { status: 200, body: { resourceType: 'Parameters', parameter: [
    { name: 'versions', valueInteger: result.versions },
    { name: 'removed', valueBoolean: result.gone },
  ] } };
}
