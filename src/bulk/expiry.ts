/**
 * Export expiry (bulk-data.md §5.5 Expires, issue #7 §3; ARCHITECTURE §8): a node-cron schedule deletes the files of
 * exports past HEARTH_EXPORT_TTL, and of cancelled, failed or vanished ones, under an advisory lock so that one node
 * sweeps at a time. The store's own listing is the source of truth, so orphans left by a crash go too.
 */
import { schedule } from 'node-cron';
import type { Queryable } from '../db/db.js';
import { sql } from '../db/sql.js';
import type { Deps } from '../interactions/context.js';
import { skipOverlapping } from '../jobs/overlap.js';
import { type Job, getJob } from '../jobs/queue.js';
import { expiresAt } from './status.js';
import { exportStore } from './store.js';
import { deleteOffboarded } from './offboarding.js';

/** Every ten minutes: a file lives at most TTL + 10 min; the status URL answers 404 from the TTL on. */
const EVERY = '*/10 * * * *';

function done(deps: Deps, job: Job | undefined, now: number): boolean {
  if (!job || job.kind !== 'export' || job.cancelRequested || job.status === 'cancelled' || job.status === 'failed') return true;
  const expires = expiresAt(deps, job);
  return job.status === 'completed' && expires !== undefined && expires.getTime() <= now;
}

async function sweepLocked(deps: Deps, tx: Queryable): Promise<number> {
  const [{ ok } = { ok: false }] = await tx.query<{ ok: boolean }>(
    sql`SELECT pg_try_advisory_xact_lock(hashtext('hearth.export.sweep')) AS ok`);
  if (!ok) return 0;
  const store = exportStore(deps);
  const now = Date.now();
  let removed = 0;
  for (const { tenant, job } of await store.jobs()) {
    if (!done(deps, await getJob(tx, tenant, job), now)) continue;
    await store.remove(tenant, job);
    removed++;
  }
  return removed;
}

/**
 * One sweep; answers how many exports' files were deleted (0 when another node holds the lock). Offboarded tenants
 * whose time has passed are deleted too.
 */
export async function sweepExports(deps: Deps): Promise<number> {
  const removed = await deps.db.transaction((tx) => sweepLocked(deps, tx), { retries: 0 });
  await deleteOffboarded(deps, new Date()); // tenants whose offboarding time has passed
  return removed;
}

/** Starts the schedule on this node (hearth serve); the answer stops it. */
export function startExportExpiry(deps: Deps, onError: (e: unknown) => void = () => undefined): () => Promise<void> {
  const run = skipOverlapping('export-expiry', () => sweepExports(deps).then(() => undefined, onError), deps.metrics);
  const task = schedule(EVERY, run, { name: 'hearth-export-expiry', unref: true });
  return async () => { await task.stop(); await task.destroy(); };
}
