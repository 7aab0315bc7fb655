/** Every kind of job this server runs, by name (the worker claims only these). */
import { exportJob } from '../bulk/export-job.js';
import { importJob } from '../bulk/import-job.js';
import type { ServerJobHandler } from '../interactions/context.js';
import { reindex } from '../jobs/reindex.js';
import { rekey } from '../jobs/rekey.js';
import { resealFiles } from '../bulk/reseal.js';
import { eraseJob } from './erase.js';

export const JOB_HANDLERS: Record<string, ServerJobHandler> = {
  reindex,
  export: exportJob,
  import: importJob,
  erase: eraseJob,
  // After the rows, the tenant's bulk files (bulk/reseal.ts).
  rekey: (ctx) => rekey(ctx, (version) => resealFiles(ctx.deps, ctx.tenant, version)),
};
