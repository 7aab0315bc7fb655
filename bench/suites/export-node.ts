/**
 * A second Hearth node that only runs jobs (createDeps + JobWorker with JOB_HANDLERS, as `hearth serve` runs them) on
 * the bench database, for the export suite when the bench's Hearth process runs no job worker. Driven over IPC like
 * the other bench children (rss, gc, teardown); PostgreSQL only (PGlite is one process's database).
 */
import { createDeps } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openDb } from '../../src/db/open.js';
import { keyOptions } from '../../src/db/vault.js';
import { JOB_HANDLERS } from '../../src/operations/jobs.js';
import { JobWorker } from '../../src/jobs/worker.js';
import { serveIpc } from '../lib/ipc.js';

const config = loadConfig({ ...process.env, HEARTH_LOG_LEVEL: 'warn' });
const db = await openDb({ databaseUrl: config.databaseUrl, poolSize: 4, ...keyOptions(config) });
const deps = await createDeps(config, db);
const worker = new JobWorker(deps, JOB_HANDLERS, { pollMs: 50 });
worker.start();
serveIpc(async (op) => {
  if (op !== 'teardown') throw new Error(`unknown op ${op}`);
  await worker.stop();
  await deps.audit.close();
  await db.close();
  return undefined;
});
