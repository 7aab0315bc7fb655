/**
 * Scheduled work that may outlast its interval (ARCHITECTURE §8; issue #12 §12): a run that finds the previous run of
 * its job still going is skipped quietly — a debug line and the counter below — instead of node-cron's warning per
 * occurrence, which under load filled the log with warnings about nothing wrong.
 */
import type { Metrics } from '../metrics.js';

export const SKIPPED_RUNS_METRIC = 'hearth_scheduled_runs_skipped_total';

export interface DebugLog { debug(obj: object, msg: string): void }

/** fn guarded so that at most one run of the job is in flight in this process; the answer is what a cron task calls. */
export function skipOverlapping(job: string, fn: () => Promise<void>, metrics: Metrics, log?: DebugLog): () => Promise<void> {
  const skipped = metrics.counter(SKIPPED_RUNS_METRIC, 'Scheduled runs skipped because the previous run of the job was still going', 'job');
  let running = false;
  return async () => {
    if (running) {
      skipped.inc({ job });
      log?.debug({ job }, 'scheduled run skipped: the previous run is still going');
      return;
    }
    running = true;
    try {
      await fn();
    } finally {
      running = false;
    }
  };
}
