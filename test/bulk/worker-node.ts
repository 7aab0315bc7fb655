/**
 * A Hearth node that only runs jobs — what `hearth serve`'s JobWorker does, confined to one tenant (BULK_TENANT) — for
 * the SIGKILL test in resume.test.ts: exports run in small pages, each followed by a checkpoint and a pause, so that
 * the test can kill the process mid-export.
 */
import { createDeps } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createExportJob } from '../../src/bulk/export-job.js';
import { runTenantJobs } from './tenant-worker.js';

const deps = await createDeps(loadConfig());
const slow = createExportJob({ pageSize: 100, checkpointMs: 0 });
for (;;) {
  await runTenantJobs(deps, process.env.BULK_TENANT!, (ctx) =>
    slow({ ...ctx, progress: async (p) => { await ctx.progress(p); await new Promise((r) => setTimeout(r, 100)); } }));
  await new Promise((r) => setTimeout(r, 50));
}
