/**
 * JobWorker's loop confined to one tenant's export jobs: test files share a PostgreSQL database, and a worker of one
 * file must not run (and write into its own export directory) the exports of another.
 */
import crypto from 'node:crypto';
import { sql } from '../../src/db/sql.js';
import type { Deps } from '../../src/interactions/context.js';
import { exportJob } from '../../src/bulk/export-job.js';
import { type Job, finishJob, getJob, reportProgress } from '../../src/jobs/queue.js';
import { JobCancelled } from '../../src/jobs/worker.js';
import type { ServerJobContext as JobContext, ServerJobHandler as JobHandler } from '../../src/interactions/context.js';
import { findTenant } from '../../src/storage/tenants.js';

const LEASE_MS = 60_000;

async function claim(deps: Deps, slug: string, owner: string, kind: string): Promise<Job | undefined> {
  const [row] = await deps.db.query<{ id: string }>(sql`UPDATE hearth.job j SET status = 'running', lease_owner = ${owner},
      lease_until = now() + interval '60 seconds', attempts = j.attempts + 1, started_at = coalesce(j.started_at, now())
    WHERE j.id = (SELECT id FROM hearth.job WHERE tenant = ${slug} AND kind = ${kind}
      AND (status = 'queued' OR (status = 'running' AND lease_until < now())) ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1)
    RETURNING j.id`);
  return row && getJob(deps.db, slug, row.id);
}

/** Runs the tenant's queued exports (and those whose lease lapsed) to the end; answers how many ran. */
export async function runTenantJobs(deps: Deps, slug: string, handler: JobHandler = exportJob, kind = 'export'): Promise<number> {
  const owner = `test-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
  const tenant = (await findTenant(deps.db, slug))!;
  let n = 0;
  for (let job = await claim(deps, slug, owner, kind); job; job = await claim(deps, slug, owner, kind)) {
    n++;
    let last = job.progress;
    const ctx: JobContext = { deps, job, tenant, progress: async (p, tx) => {
      last = p;
      if ((await reportProgress(tx ?? deps.db, job!, owner, p, LEASE_MS)).cancelled) throw new JobCancelled();
    } };
    try {
      await finishJob(deps.db, job, 'completed', { result: await handler(ctx), progress: last });
    } catch (e) {
      const cancelled = e instanceof JobCancelled;
      await finishJob(deps.db, job, cancelled ? 'cancelled' : 'failed', cancelled ? { progress: last } : { error: (e as Error).message, progress: last });
    }
  }
  return n;
}
