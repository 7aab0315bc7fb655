/**
 * A Hearth node that only runs one tenant's `$import` jobs (BULK_TENANT), for the SIGKILL test in import-kill.test.ts:
 * batches of IMPORT_BATCH lines, and in the batch holding resource IMPORT_HANG_ID the write stops with the batch's rows
 * sent but not committed, tells the test (IPC) and waits — so the kill lands mid-batch, at a known line, every run.
 */
import { createDeps } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createImportJob } from '../../src/bulk/import-job.js';
import { sql } from '../../src/db/sql.js';
import type { WriteHook } from '../../src/storage/write.js';
import { runTenantJobs } from './tenant-worker.js';

const deps = await createDeps(loadConfig());
const hang: WriteHook = async (tx, _schema, change) => {
  if (change.id !== process.env.IMPORT_HANG_ID) return;
  // A read sends the batch's deferred writes: the kill finds them in an open transaction, not only in this process.
  await tx.query(sql`SELECT 1`);
  process.send!('mid-batch');
  await new Promise((r) => setTimeout(r, 60_000));
};
const slow = createImportJob({ batch: Number(process.env.IMPORT_BATCH) });
const withHang = { ...deps, writeHooks: [...deps.writeHooks, hang] };
for (;;) {
  await runTenantJobs(deps, process.env.BULK_TENANT!, (ctx) => slow({ ...ctx, deps: withHang }), 'import');
  await new Promise((r) => setTimeout(r, 50));
}
