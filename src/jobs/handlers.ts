/** Every kind of job this server runs, by name (the worker claims only these). */
import { exportJob } from './export.js';
import { reindex } from './reindex.js';
import type { JobHandler } from './worker.js';

export const JOB_HANDLERS: Record<string, JobHandler> = {
  reindex,
  export: exportJob,
};
