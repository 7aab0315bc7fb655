/**
 * The scheduling rules' timed work (issue #18 §1–§2): every minute, expired holds are released (their Appointments
 * cancelled, their Slots free again) and booking turns no writer needs are pruned; once a day — and when the server starts — every active Schedule's working pattern
 * is turned into Slots for the next HEARTH_SLOT_HORIZON_DAYS days (0 turns that off). Each tenant in its own
 * transaction; generation is idempotent and locked per Schedule, so several nodes may run it at once.
 */
import { schedule } from 'node-cron';
import type { Config } from '../config.js';
import { FhirError } from '../errors.js';
import type { Db } from '../db/db.js';
import type { Definitions } from '../fhir/definitions.js';
import type { Metrics } from '../metrics.js';
import { type DebugLog, skipOverlapping } from '../jobs/overlap.js';
import type { TenantSearchParameters } from '../storage/search-parameters.js';
import { listReadyTenants } from '../storage/tenants.js';
import type { WriteHook } from '../storage/write.js';
import { activeSchedules, generateSlots } from './availability.js';
import { pruneTurns, releaseExpiredHolds } from './scheduling.js';

export interface WorkflowTaskDeps {
  config: Config;
  db: Db;
  defs: Definitions;
  metrics: Metrics;
  writeHooks: WriteHook[];
  tenantSearch: TenantSearchParameters;
}

const DAY = 86_400_000;

/** The ready tenants, or those of them named by slug. */
async function tenantsOf(db: Db, only?: string[]) {
  return (await listReadyTenants(db)).filter((t) => !only || only.includes(t.slug));
}

/** Releases every tenant's (or the named tenants') expired holds; the answer is how many Appointments were cancelled. */
export async function releaseAllHolds(deps: WorkflowTaskDeps, only?: string[]): Promise<number> {
  let released = 0;
  for (const tenant of await tenantsOf(deps.db, only)) {
    released += await deps.db.transaction((tx) => releaseExpiredHolds(tx, tenant.schema, () => deps.writeHooks));
    await deps.db.transaction((tx) => pruneTurns(tx, tenant.schema));
  }
  return released;
}

/** Generates the horizon's Slots of every active Schedule of every (or each named) tenant; the answer is how many were created. */
export async function generateAllSlots(deps: WorkflowTaskDeps, only?: string[], now = new Date()): Promise<number> {
  if (deps.config.slotHorizonDays === 0) return 0;
  const end = new Date(now.getTime() + deps.config.slotHorizonDays * DAY);
  let created = 0;
  for (const tenant of await tenantsOf(deps.db, only)) {
    const registry = await deps.tenantSearch.registryFor(deps.db, tenant.schema);
    for (const id of await activeSchedules(deps.db, tenant.schema)) {
      try {
        const result = await deps.db.transaction((tx) => generateSlots(tx, tenant.schema,
          { hooks: () => deps.writeHooks, search: { registry, defs: deps.defs }, timezone: deps.config.timezone }, id, now, end));
        created += result.created;
      } catch (e) {
        // One Schedule's unusable pattern (a bad time zone, too many slots) does not stop the others.
        if (!(e instanceof FhirError)) throw e;
      }
    }
  }
  return created;
}

export function startWorkflowSchedules(deps: WorkflowTaskDeps, onError: (e: unknown) => void = () => undefined,
  log?: DebugLog): () => Promise<void> {
  const holdsRun = skipOverlapping('scheduling-holds', () => releaseAllHolds(deps).then(() => undefined, onError), deps.metrics, log);
  const slotsRun = skipOverlapping('scheduling-slots', () => generateAllSlots(deps).then(() => undefined, onError), deps.metrics, log);
  const holds = schedule('30 * * * * *', holdsRun, { name: 'hearth-scheduling-holds' });
  const slots = schedule('41 2 * * *', slotsRun, { name: 'hearth-scheduling-slots' });
  void slotsRun();
  return async () => {
    for (const task of [holds, slots]) { await task.stop(); await task.destroy(); }
  };
}
