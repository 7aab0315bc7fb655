/** Runs queued jobs of this node: polls, claims under a lease, heartbeats through progress, honours cancellation. */
import crypto from 'node:crypto';
import os from 'node:os';
import type { Db, Queryable } from '../db/db.js';
import { type Tenant, findTenant } from '../storage/tenants.js';
import { type Job, claimJob, finishJob, releasePaused, reportProgress } from './queue.js';

export class JobCancelled extends Error {
  override name = 'JobCancelled';
}

/** Thrown inside a job when its tenant was suspended: the job goes back to the queue with its progress. */
export class JobPaused extends Error {
  override name = 'JobPaused';
}

/** What the worker itself needs; handlers get the whole D the worker was built with (the server's Deps). */
export interface WorkerDeps {
  db: Db;
}

export interface JobContext<D extends WorkerDeps = WorkerDeps> {
  deps: D;
  job: Job;
  tenant: Tenant;
  /**
   * Records progress (the resume point) and extends the lease; throws JobCancelled when cancelled. Given the
   * transaction that wrote the work the progress describes, it is recorded in that transaction: both commit or
   * neither (and a worker that lost its lease writes nothing).
   */
  progress(progress: Job['progress'], tx?: Queryable): Promise<void>;
}

export type JobHandler<D extends WorkerDeps = WorkerDeps> = (ctx: JobContext<D>) => Promise<unknown>;

export interface WorkerOptions {
  pollMs?: number;
  leaseMs?: number;
  /** Runs only this tenant's jobs (by slug): a node serving one tenant, or a tool that must not take another's work. */
  tenant?: string;
}

export class JobWorker<D extends WorkerDeps = WorkerDeps> {
  readonly owner = `${os.hostname()}:${process.pid}:${crypto.randomBytes(3).toString('hex')}`;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly pollMs: number;
  private readonly leaseMs: number;
  private readonly tenant: string | undefined;

  constructor(private readonly deps: D, private readonly handlers: Record<string, JobHandler<D>>, options: WorkerOptions = {}) {
    this.pollMs = options.pollMs ?? 1000;
    this.leaseMs = options.leaseMs ?? 60000;
    this.tenant = options.tenant;
  }

  start(): void {
    this.stopped = false;
    const tick = async () => {
      if (this.stopped) return;
      this.running = this.drain().then(() => undefined, () => undefined);
      await this.running;
      if (!this.stopped) this.timer = setTimeout(tick, this.pollMs);
    };
    this.timer = setTimeout(tick, 0);
  }

  /** Stops polling and waits for the job in hand to reach its next progress report or end. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** Runs jobs until none is left; returns how many ran (tests call this directly). */
  async drain(): Promise<number> {
    let n = 0;
    while (!this.stopped && (await this.runOne())) n++;
    return n;
  }

  async runOne(): Promise<boolean> {
    const job = await claimJob(this.deps.db, this.owner, Object.keys(this.handlers), this.leaseMs, this.tenant);
    if (!job) return false;
    const tenant = await findTenant(this.deps.db, job.tenant);
    if (!tenant) {
      await finishJob(this.deps.db, job, 'failed', { error: 'tenant no longer exists' });
      return true;
    }
    await this.execute(job, tenant);
    return true;
  }

  /** Runs a job this worker already holds the lease of (startJob) to its end, as a claimed one would run. */
  async runHeld(job: Job, tenant: Tenant): Promise<void> {
    await this.execute(job, tenant);
  }

  get leaseDurationMs(): number {
    return this.leaseMs;
  }

  private async execute(job: Job, tenant: Tenant): Promise<void> {
    let last = job.progress;
    const ctx: JobContext<D> = {
      deps: this.deps, job, tenant,
      progress: async (p, tx) => {
        const { cancelled, paused } = await reportProgress(tx ?? this.deps.db, job, this.owner, p, this.leaseMs);
        if (!((cancelled || paused) && tx)) last = p; // a stop thrown inside tx rolls its progress back
        if (cancelled) throw new JobCancelled();
        if (paused) throw new JobPaused();
        if (this.stopped) throw new JobCancelled();
      },
    };
    try {
      const result = await this.handlers[job.kind]!(ctx);
      await finishJob(this.deps.db, job, 'completed', { result, progress: last });
    } catch (e) {
      if (e instanceof JobPaused) return releasePaused(this.deps.db, job, this.owner, last); // its tenant was suspended
      if (e instanceof JobCancelled && this.stopped && !job.cancelRequested) return; // lease lapses; another node resumes
      const status = e instanceof JobCancelled ? 'cancelled' : 'failed';
      await finishJob(this.deps.db, job, status, status === 'failed' ? { error: (e as Error).message, progress: last } : { progress: last });
    }
  }
}
