/**
 * Bulk Data export as a job (bulk-data.md §4.4, issue #7 §5): fixes transactionTime (and the patients in scope), then
 * streams the resources as they stood then into NDJSON files, checkpointing file lengths and the rid cursor into the
 * job's progress; a job resumed after a crash truncates its open files to the checkpoint and produces the same files.
 */
import { FhirError } from '../errors.js';
import { toOutcome } from '../fhir/outcome.js';
import { exportStore } from './store.js';
import { OutputFiles } from './output.js';
import { clearPatients, fixPatients } from './patients.js';
import { scanPlan } from './plan.js';
import { type PageOptions, type PassContext, deletedPass, scanPass } from './scan.js';
import { maxRidQuery } from '../storage/as-of.js';
import { compartmentTypes } from './scope.js';
import { chooseTransactionTime } from './snapshot.js';
import type { ExportParams, ExportProgress, ExportResult } from './types.js';
import { getJob } from '../jobs/queue.js';
import { JobCancelled, JobPaused } from '../jobs/worker.js';
import type { ServerJobContext as ExportJobContext, ServerJobHandler } from '../interactions/context.js';

/** Fixes T and the patients, writes the lenient-ignored parameters' outcomes, and saves the starting point. */
async function begin(ctx: ExportJobContext, params: ExportParams): Promise<ExportProgress> {
  const { deps, tenant, job } = ctx;
  const t = await chooseTransactionTime(deps.db);
  const snap = { schema: tenant.schema, t };
  if (params.level !== 'system') await fixPatients(deps.db, snap, job.id, params);
  const [{ m } = { m: 0 }] = await deps.db.query<{ m: number }>(maxRidQuery(snap));
  const progress: ExportProgress = { phase: 'scan', transactionTime: t.toISOString(), cursor: 0, maxRid: Number(m), done: 0,
    open: {}, closed: [] };
  if (params.ignored.length > 0) {
    const files = new OutputFiles(exportStore(deps), tenant.slug, job.id, deps.config.exportFileResources, progress);
    for (const issue of params.ignored) await files.appendBlock('error', 'OperationOutcome', JSON.stringify(toOutcome([issue])), 1);
    await files.finish();
  }
  await ctx.progress(progress);
  return progress;
}

async function run(ctx: ExportJobContext, params: ExportParams, options: PageOptions, progress: ExportProgress): Promise<ExportResult> {
  const { deps, tenant, job } = ctx;
  const files = new OutputFiles(exportStore(deps), tenant.slug, job.id, deps.config.exportFileResources, progress);
  const t = new Date(progress.transactionTime);
  const plan = await scanPlan(deps, tenant, job.id, params, t);
  const pc: PassContext = {
    db: deps.db, defs: deps.defs, files, options,
    checkpoint: async (cursor, written) => {
      await files.checkpoint();
      progress.cursor = cursor;
      progress.done += written;
      await ctx.progress(progress);
    },
  };
  try {
    if (progress.phase === 'scan') {
      await scanPass(pc, plan, progress.cursor, params.elements);
      Object.assign(progress, { phase: params.since ? 'deleted' : 'done', cursor: 0 });
      await ctx.progress(progress);
    }
    if (progress.phase === 'deleted') {
      const kinds = compartmentTypes();
      const types = plan.types.filter((ty) => !plan.conditions.has(ty) && (!plan.patientLevel || kinds.includes(ty)));
      await deletedPass(pc, { schema: tenant.schema, t, job: job.id, types, since: new Date(params.since!),
        patientLevel: plan.patientLevel }, plan.cx.registry, progress.cursor);
      Object.assign(progress, { phase: 'done', cursor: 0 });
      await ctx.progress(progress);
    }
    await files.finish();
  } finally {
    await files.abandon();
  }
  return { transactionTime: progress.transactionTime, files: progress.closed };
}

/** On the way out: cancelled or failed exports lose their files; a stopping worker's or paused job keeps them to resume. */
async function fail(ctx: ExportJobContext, e: unknown, progress: ExportProgress | undefined): Promise<never> {
  const { deps, tenant, job } = ctx;
  const store = exportStore(deps);
  if (e instanceof JobPaused) throw e; // its tenant was suspended: the files wait for it to resume
  if (e instanceof JobCancelled && !(await getJob(deps.db, tenant.slug, job.id))?.cancelRequested) throw e;
  if (e instanceof FhirError && progress && !(e instanceof JobCancelled)) {
    await ctx.progress({ ...progress, failure: { status: e.status, code: e.issue, message: e.message } }).catch(() => undefined);
  }
  await clearPatients(deps.db, tenant.schema, job.id).catch(() => undefined);
  await store.remove(tenant.slug, job.id);
  throw e;
}

/** pageSize and checkpointMs are tuning knobs (tests make them small to stop a job mid-way). */
export function createExportJob(options: Partial<PageOptions> = {}): ServerJobHandler {
  const o: PageOptions = { pageSize: options.pageSize ?? 5000, checkpointMs: options.checkpointMs ?? 2000 };
  return async (ctx) => {
    const params = ctx.job.params as unknown as ExportParams;
    let progress = ctx.job.progress.phase ? structuredClone(ctx.job.progress) as ExportProgress : undefined;
    try {
      progress ??= await begin(ctx, params);
      const result = await run(ctx, params, o, progress);
      await clearPatients(ctx.deps.db, ctx.tenant.schema, ctx.job.id);
      return result;
    } catch (e) {
      return fail(ctx, e, progress ?? { phase: 'scan', transactionTime: '', cursor: 0, maxRid: 0, done: 0, open: {}, closed: [] });
    }
  };
}

export const exportJob = createExportJob();
