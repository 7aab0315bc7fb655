/** The job table: enqueue, claim with SKIP LOCKED under a lease, report progress, finish, cancel (ARCHITECTURE §8). */
import crypto from 'node:crypto';
import type { Db, Queryable } from '../db/db.js';
import { CONTROL_SCHEMA } from '../db/migrate.js';
import { ident, sql } from '../db/sql.js';

export type JobStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface Job {
  id: string;
  tenant: string;
  kind: string;
  status: JobStatus;
  params: Record<string, unknown>;
  progress: { done?: number; total?: number; cursor?: unknown; [k: string]: unknown };
  result?: unknown;
  error?: string;
  cancelRequested: boolean;
  attempts: number;
  createdAt: Date;
  startedAt?: Date;
  finishedAt?: Date;
}

interface JobRow {
  id: string; tenant: string; kind: string; status: JobStatus; params: Record<string, unknown>;
  progress: Job['progress']; result: unknown; error: string | null; cancel_requested: boolean; attempts: number;
  created_at: Date; started_at: Date | null; finished_at: Date | null;
}

const T = () => sql`${ident(CONTROL_SCHEMA)}.job`;

const fromRow = (r: JobRow): Job => ({
  id: r.id, tenant: r.tenant, kind: r.kind, status: r.status, params: r.params, progress: r.progress ?? {},
  ...(r.result !== null && r.result !== undefined ? { result: r.result } : {}), ...(r.error ? { error: r.error } : {}),
  cancelRequested: r.cancel_requested, attempts: r.attempts, createdAt: new Date(r.created_at),
  ...(r.started_at ? { startedAt: new Date(r.started_at) } : {}), ...(r.finished_at ? { finishedAt: new Date(r.finished_at) } : {}),
});

export async function enqueueJob(db: Queryable, tenant: string, kind: string, params: Record<string, unknown> = {}): Promise<Job> {
  const rows = await db.query<JobRow>(sql`INSERT INTO ${T()} (id, tenant, kind, params)
    VALUES (${crypto.randomUUID()}, ${tenant}, ${kind}, ${JSON.stringify(params)}::jsonb) RETURNING *`);
  return fromRow(rows[0]!);
}

/**
 * A job that starts at once under `owner`'s lease, not queued for any worker (the `hearth import` command runs its own
 * job in its own process); if that process dies, the lease lapses and any worker resumes it.
 */
export async function startJob(db: Queryable, tenant: string, kind: string, params: Record<string, unknown>, owner: string,
  leaseMs: number): Promise<Job> {
  const rows = await db.query<JobRow>(sql`INSERT INTO ${T()} (id, tenant, kind, params, status, lease_owner, lease_until, attempts, started_at)
    VALUES (${crypto.randomUUID()}, ${tenant}, ${kind}, ${JSON.stringify(params)}::jsonb, 'running', ${owner},
      now() + make_interval(secs => ${leaseMs / 1000}), 1, now()) RETURNING *`);
  return fromRow(rows[0]!);
}

/** The tenant's latest job of a kind, if any. */
export async function latestJob(db: Queryable, tenant: string, kind: string): Promise<Job | undefined> {
  const rows = await db.query<JobRow>(sql`SELECT * FROM ${T()} WHERE tenant = ${tenant} AND kind = ${kind} ORDER BY created_at DESC LIMIT 1`);
  return rows[0] && fromRow(rows[0]);
}

export async function getJob(db: Queryable, tenant: string, id: string): Promise<Job | undefined> {
  if (!/^[0-9a-f-]{36}$/.test(id)) return undefined;
  const rows = await db.query<JobRow>(sql`SELECT * FROM ${T()} WHERE id = ${id} AND tenant = ${tenant}`);
  return rows[0] && fromRow(rows[0]);
}

/**
 * Claims the oldest queued job of these kinds, or a running one whose lease expired (its worker died): resumable after
 * a crash. Given a tenant's slug, only that tenant's jobs.
 */
export async function claimJob(db: Db, owner: string, kinds: string[], leaseMs: number, tenant?: string): Promise<Job | undefined> {
  const rows = await db.query<JobRow>(sql`UPDATE ${T()} j SET status = 'running', lease_owner = ${owner},
      lease_until = now() + make_interval(secs => ${leaseMs / 1000}), attempts = j.attempts + 1,
      started_at = coalesce(j.started_at, now())
    WHERE j.id = (SELECT id FROM ${T()} q WHERE kind = ANY(${`{${kinds.join(',')}}`}::text[])
      AND (${tenant ?? null}::text IS NULL OR q.tenant = ${tenant ?? null})
      AND (status = 'queued' OR (status = 'running' AND lease_until < now()))
      AND (q.params->>'offboarding' = 'true' -- an offboarding export runs while its tenant is suspended, as it must
        OR NOT EXISTS (SELECT 1 FROM ${ident(CONTROL_SCHEMA)}.tenant t WHERE t.slug = q.tenant AND t.suspended_at IS NOT NULL))
      ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1)
    RETURNING j.*`);
  return rows[0] && fromRow(rows[0]);
}

/**
 * Saves progress and extends the lease; answers whether cancellation was requested, and whether the job's tenant has
 * been suspended since (the job is then to pause: releasePaused).
 */
export async function reportProgress(db: Queryable, job: Job, owner: string, progress: Job['progress'], leaseMs: number):
  Promise<{ cancelled: boolean; paused: boolean }> {
  const rows = await db.query<{ cancel_requested: boolean; paused: boolean }>(sql`UPDATE ${T()} j SET progress = ${JSON.stringify(progress)}::jsonb,
      lease_until = now() + make_interval(secs => ${leaseMs / 1000})
    WHERE id = ${job.id} AND lease_owner = ${owner}
    RETURNING cancel_requested,
      (j.params->>'offboarding' IS DISTINCT FROM 'true'
        AND EXISTS (SELECT 1 FROM ${ident(CONTROL_SCHEMA)}.tenant t WHERE t.slug = j.tenant AND t.suspended_at IS NOT NULL)) AS paused`);
  if (rows.length === 0) throw new Error(`Lost the lease on job ${job.id}`);
  return { cancelled: rows[0]!.cancel_requested, paused: rows[0]!.paused };
}

/** Puts a running job of a suspended tenant back in the queue with its progress; it resumes once the tenant is active. */
export async function releasePaused(db: Queryable, job: Job, owner: string, progress: Job['progress']): Promise<void> {
  await db.query(sql`UPDATE ${T()} SET status = 'queued', lease_owner = NULL, lease_until = NULL,
      progress = ${JSON.stringify(progress)}::jsonb WHERE id = ${job.id} AND lease_owner = ${owner}`);
}

export async function finishJob(db: Queryable, job: Job, status: 'completed' | 'failed' | 'cancelled',
  detail: { result?: unknown; error?: string; progress?: Job['progress'] } = {}): Promise<void> {
  await db.query(sql`UPDATE ${T()} SET status = ${status}, finished_at = now(), lease_owner = NULL, lease_until = NULL,
      result = ${detail.result === undefined ? null : JSON.stringify(detail.result)}::jsonb, error = ${detail.error ?? null},
      progress = coalesce(${detail.progress === undefined ? null : JSON.stringify(detail.progress)}::jsonb, progress)
    WHERE id = ${job.id}`);
}

/** Queued jobs are cancelled at once; running ones stop at their next progress report. */
export async function cancelJob(db: Queryable, tenant: string, id: string): Promise<Job | undefined> {
  const rows = await db.query<JobRow>(sql`UPDATE ${T()} SET cancel_requested = true,
      status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
      finished_at = CASE WHEN status = 'queued' THEN now() ELSE finished_at END
    WHERE id = ${id} AND tenant = ${tenant} RETURNING *`);
  return rows[0] && fromRow(rows[0]);
}
